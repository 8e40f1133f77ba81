// Package api holds the conventions every REST surface of rexian shares: the error kinds
// that domain code returns, the JSON error envelope {"error":{"code":…,"message":…}}, the
// adapter that turns a handler's error into a status code, JSON binding with clear
// messages, and pagination parameters.
//
// Domain packages return errors made with Errorf (or wrap one of the kinds with %w); the
// adapter maps the kind to a status code in one place and logs only server errors.
package api
