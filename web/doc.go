// Package web serves the HTML consoles of the hotline staff: the operators' console
// (/console/…: queue, live panel, screen-pop, registration, the central desk's inbox, the
// manual callback list and the knowledge base with the approval items' eight elements),
// the departments' portal (/portal/…, with the department's red and yellow cards) and a
// small supervisor page with the cards board.
//
// The pages are rendered on the server with html/template and work as plain forms; a
// small embedded script (static/console.js) adds the live updates over server-sent events
// from /api/v1/ivr/events, the screen-pop and the ticking countdowns. Every asset is
// embedded in the binary: hotline networks are often cut off from the internet.
//
// The pages act through the domain services directly (tickets.Store, sms.Service,
// callback.Service for the surveys, dashboards.Service for the cards) and,
// for the telephone queue, through the ivr API handler in process, so a page never does
// what the JSON API would refuse. Sessions are the API's cookie sessions (auth.Service);
// forms carry the session's CSRF token in a hidden field instead of the X-CSRF-Token
// header, which a plain form cannot send.
package web
