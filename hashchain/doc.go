// Package hashchain computes the links of the tamper-evident chains: every ticket's
// timeline (tickets) and the security audit log (audit). Each link hashes its record's
// fields and the link before it, so that changing, inserting or removing a record breaks
// every link after it.
//
// Two algorithms make links: SHA-256, the default, and SM3 (GB/T 32905), which a
// commercial-cryptography assessment (密评) asks of a government system. A link names
// the algorithm that made it: SHA-256 links are 64 hex digits, as every chain made before
// SM3 was offered, and SM3 links are "sm3:" and 64 hex digits. So the configured
// algorithm may change at any time: new links use it, a chain may hold both kinds, and
// every link is checked with its own algorithm.
package hashchain
