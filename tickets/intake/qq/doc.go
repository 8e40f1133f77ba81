// Package qq is the QQ channel (创城QQ, the hotline QQ), spoken through a OneBot v11
// implementation.
//
// Events arrive by HTTP POST on /onebot/v11/events (verified by X-Signature, an
// HMAC-SHA1 of the body, when a secret is set) or over a reverse WebSocket that the bot
// opens to /onebot/v11/ws with its access token. Messages may be arrays of segments or
// CQ-code strings; both decode to segments (event.go, cqcode.go). Replies go out with
// send_private_msg and send_group_msg, over the bot's WebSocket when it is connected,
// else over its HTTP API (api.go, ws.go).
//
// A private message, or a group message that @-mentions the bot, starts or continues a
// conversation kept in Redis (bot.go): the bot asks for what is missing — what happened,
// where, a mobile number for a callback ("无" skips it) — and then registers a ticket of
// channel qq. Images in any message of the conversation become attachments; an image that
// cannot be fetched becomes a line of the registration note. "查询 <工单号>" answers with
// the progress of the citizen's own tickets. A replayed event (the same message id of the
// same bot within a day) is ignored.
//
// The receipt and the result are owed messages derived from the ticket's timeline: the
// Replier claims a row per event in qq_replies before sending and marks it sent after, so
// a failed send is retried by the worker and a sent one is never sent again (replies.go).
package qq
