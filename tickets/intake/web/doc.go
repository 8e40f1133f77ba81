// Package web is the public web channel: a report form (/report) that turns a citizen's
// complaint, with photos, into a ticket of channel web, and a status page (/status) where
// a citizen follows the ticket by its number and the last four digits of their phone.
//
// The pages are server-rendered Chinese HTML (html/template, embedded, no external assets,
// no JavaScript needed), so they work on any phone browser. Nothing is ever dropped
// silently: a submission that cannot be registered — bad input, a rate limit, the database
// down — comes back as the form with the citizen's text kept and the reason shown.
//
// Automated posting is held off without a third-party captcha (which would send citizens'
// browsers to a foreign service, need JavaScript and often fail in China):
//
//   - a honeypot field that people never see and form-filling robots fill in;
//   - a form token, signed with HMAC-SHA256 and carrying the time the form was served,
//     that must be at least a few seconds old (people take longer than that to write a
//     complaint; scripts post at once), not older than a few hours, and used once (its
//     nonce is remembered in Redis until it expires). Issuing a token stores nothing, so
//     fetching the form cannot fill Redis;
//   - a per-address limit on submissions, and on failed status look-ups (per address and
//     per ticket number) so that the last four digits cannot be guessed.
package web
