// Package sms is the SMS outbox: every message the platform sends to a citizen (ticket
// receipts and results, surveys, application-confirmation and materials notices, an
// operator's free text, automatic replies) is a row before it is sent, and workers send
// from those rows, so that a crash or a restart loses nothing and repeats nothing.
//
// How the pieces fit:
//
//   - Enqueue checks every rule — a mobile recipient, the text within the part limit
//     (Measure, Split: GSM 7-bit 160/153 or UCS-2 70/67), quiet hours per kind, the
//     suppression list — and stores the message with its parts. An idempotency key
//     makes a repeated enqueue return the first message.
//   - Templates (template.go) carry named variables checked against the kind when they
//     are saved; the configured signature 【…】 goes in front of every message.
//   - The sender (sender.go) claims due messages under a lease, submits their parts
//     through a Gateway (gateway.go: the contract with sms/kannel) at a rate shared by
//     all instances (ratelimit.go), and records the outcome; reconcile.go settles what a
//     crash left behind.
//   - The Service is the gateway's Receiver (receiver.go): delivery reports update parts
//     and settle messages; inbound messages are stored, then routed to the opt-out list,
//     a status-query reply, the survey hook, or a ticket per conversation window.
//   - Ticket messages (ticketmsg.go) are derived from the tickets' timeline; notices.go,
//     bulk.go and materials.go serve the online-approval system and the service windows;
//     http.go is the REST API.
package sms
