// Package audit is the security audit log (安全审计): an append-only, hash-chained record of
// what a security assessment (等保 2.0 level 3) and PIPL ask a city to be able to answer
// later — who logged in or failed to, which accounts were locked, who changed users, roles,
// tokens, the directory or the configuration, who exported data, and who saw a citizen's
// unmasked phone number or name, for which ticket and why.
//
// Calling it is one line wherever something worth recording happens:
//
//	err := log.Record(ctx, audit.Event{Action: audit.ActionUserUpdated, Target: "user:7", Detail: "role operator → admin"})
//
// The actor and the client's address come from ctx (set by the authentication middleware
// and by Middleware) unless the event names them.
//
// The chain: every record carries the hash of the one before it, and its own hash covers
// its content and that link, like a ticket's timeline. One head row holds the last sequence
// number and hash, so that records removed from the end are noticed too. Appends take the
// head row's lock (PostgreSQL) or run one at a time (SQLite), so the chain never forks.
//
// Retention: Prune removes records older than the retention (default 180 days, the legal
// minimum for network logs in China) and moves the head row's anchor to the last removed
// record, so that Verify still checks the rest from a known hash; the prune itself is
// recorded in the chain, with the anchor it left.
//
// Shipping: every committed record is also written, as one JSON line, to the configured
// shippers (a file, syslog over UDP, TCP or a unix socket) for a SIEM. The database stays
// the record of truth; a shipper that fails is logged, never fails the request.
package audit
