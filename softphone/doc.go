// Package softphone issues the SIP credentials of the console's browser phone.
//
// An operator who chooses the browser phone when joining the queue gets a PJSIP
// endpoint of their own for the length of their console session: rexian creates an
// endpoint, an auth and an aor named webrtc-<16 hex> (derived from the session, so
// that asking again gives the same name) with a random password through ARI's dynamic
// configuration (PUT /ari/asterisk/config/dynamic/res_pjsip/{type}/{id}), on every
// Asterisk node rexian controls. Asterisk keeps them in memory (deploy/asterisk's
// sorcery.conf). The console's page fetches them and registers over SIP-over-WebSocket;
// the operator never sees or types them. The queue rings the operator at PJSIP/<id>.
//
// The credentials end with the session: logging out revokes them at once, and a sweep
// (Issuer.Run) revokes those whose session has expired or been removed, deleting the
// objects from Asterisk so that the browser can no longer register and the queue takes
// the operator out. An Asterisk restart loses the objects; the page asks for its
// credentials again when its registration fails and Issue puts them back.
//
// What was issued lives in the live store (one hash), so that every rexian instance
// behind a load balancer sees the same credentials and any of them can revoke them.
package softphone
