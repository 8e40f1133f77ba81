// Package ivr is the telephone side of the hotlines: an Asterisk ARI controller that
// answers every call the dialplan sends to Stasis(hotline,<dialled number>).
//
// How the pieces fit:
//   - node.go keeps one event socket per Asterisk node (reconnecting with backoff) and
//     routes each event, by the channel, bridge, playback or recording it names, to the
//     call that registered that id. After every (re)connect it lists the node's channels:
//     calls whose caller vanished meanwhile are ended, channels left in the app by an
//     earlier run of rexian are re-adopted (pop.go).
//   - call.go and flow.go are one call: one goroutine per call, an unbounded inbox, and
//     the script — welcome, known-caller offer, menu (or straight to the queue in direct
//     mode), queue with music and announcements, voice message, status lookup — driven by
//     configuration (config.IVR), never by code.
//   - acd.go distributes callers to operators (longest idle first, or ring-all), pausing
//     an operator who does not answer and giving wrap-up time after each call; callback.go
//     is virtual hold. The ACD is held in memory by the controller, which is the only one
//     attached to a node's app (Asterisk gives an app's events to one socket); live.go
//     copies its picture to Redis for every instance and screen and carries operators'
//     commands from other instances.
//   - record.go keeps a call record per call, written at arrival and updated as the call
//     goes; http.go serves operators, live screens, call records and the rates.
//
// The REST transport is our own (ari.go) with ari/v5's types and event decoding: every
// request has a deadline, the connection pool is sized for hundreds of calls, and
// Asterisk's error text is kept.
package ivr
