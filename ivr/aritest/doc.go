// Package aritest is an in-process emulation of Asterisk's REST Interface
// (ARI), REST and WebSocket, for testing the hotline controller in package
// ivr and for `rexian sim`.
//
// It behaves like the Asterisk 22.10.1 whose ARI traffic is kept in
// testdata/ (recorded verbatim from a real server): the same URLs, JSON
// bodies with the same key order, timestamps, ids and channel names, the
// same error bodies and status codes, and the same events in the same order,
// for both subscribeAll and plain event sockets. The ari/v5 native client
// connects to it unchanged (New, then Options.URL = srv.URL(),
// Options.WebsocketURL = srv.WebsocketURL()).
//
// Tests script the outside world: citizens call in (Dial), press keys
// (Press), talk (Speak) and hang up (Hangup); operators' phones answer after
// a delay, never, busy, congested or cannot be reached (SetPhone,
// WaitOriginated); faults drop or refuse the event socket and make REST
// calls fail (DropWebsockets, RefuseWebsockets, FailNext). A Call shows what
// the caller experienced (State, Played, MOH, BridgeID, Heard, Events).
// Originating to Local/<number>@hotline-in with a dialplan extension, as a
// load generator does against a real Asterisk, also places an incoming call.
//
// What it covers: channels and their states, answer, ring, music on hold,
// silence, variables, DTMF, hang-up requests and causes, playbacks with
// their queue, comma lists and controls, live and stored recordings
// (terminateOn, maxDurationSeconds, maxSilenceSeconds, stop, cancel, copy),
// mixing bridges with music on hold, playback and recording, originate and
// create/dial, applications, asterisk info and ping, and the application's
// registration rules around lost and replaced event sockets.
//
// Two things about the native client that tests and benchmarks meet: it
// sends REST requests through http.DefaultTransport, which keeps two idle
// connections per host, so a thousand calls in flight need
// MaxIdleConnsPerHost and MaxIdleConns raised; and native.Client.Close
// races with the client's own reconnect goroutine (both write its connected
// flag), which the race detector reports.
//
// Timers (media, originate and dial timeouts, recording limits) run on real
// time, scaled by Options.Second and Options.MediaDuration, and are
// cancelled by hang-ups and by Close, which waits for every goroutine of
// the emulator to end.
//
// What it does not: there is no media. A playback lasts
// Options.MediaDuration; a channel recording holds as much audio as the
// caller Speaks while it runs and a bridge recording as long as it runs, and
// both download as WAV files of silence. There is no dialplan beyond the
// hotline entry (Stasis with arguments) and the Local channel pairs the
// controller originates. Snoop channels (POST /channels/{id}/snoop) are
// made as Asterisk makes them (Up, entering Stasis a moment after the
// request is answered, so that a bridge refuses them with 422 until then, hung
// up with the channel they spy on) but carry no audio either. External media,
// transfers, mailboxes, endpoints, device states and user events are absent or answer empty
// lists. DeviceStateChanged, ChannelConnectedLine, the BRIDGEPEER and
// PLAYBACKSTATUS variable events and the ;1 leg's dialplan steps after the
// answer are not sent (subscribeAll sockets see them from Asterisk; a
// controller does not act on them). Only the configured application can
// connect.
package aritest
