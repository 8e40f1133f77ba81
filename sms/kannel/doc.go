// Package kannel is rexian's driver for the Kannel SMS gateway.
//
// Three pieces, each talking to one side of Kannel:
//
//   - Gateway implements sms.Gateway: it submits one part at a time through smsbox's HTTP
//     interface (cgi-bin/sendsms) and asks for delivery reports at a URL that points back
//     at rexian and names the part.
//   - Callbacks are the HTTP handlers Kannel calls: /sms/kannel/dlr for delivery reports
//     and /sms/kannel/mo for inbound messages (the get-url of an sms-service). They check
//     the shared secret, decode what Kannel sends and hand the result to an sms.Receiver.
//   - kanneltest (a sub-package) starts a real bearerbox, smsbox and fake SMS centre for
//     tests.
//
// Parts are the outbox's job, not Kannel's: the outbox splits a long message, stores one
// row per part and calls Submit once per part; the Gateway sends each part with its own
// concatenation header (UDH 05 00 03 ref count seq) so that Kannel neither splits nor
// re-splits, and every part gets its own delivery report, addressed by message and part
// id. A long message is delivered only when every part's report says so.
//
// Delivery-report URLs carry an HMAC of the message and part ids instead of the callback
// secret itself: Kannel keeps each dlr-url in its DLR store and writes it to its logs, and
// a leaked URL then only lets its holder report on that one part, never on others and
// never inject inbound messages. The inbound URL is fixed in kannel.conf and carries the
// secret as it is.
package kannel
