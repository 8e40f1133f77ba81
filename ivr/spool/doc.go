// Package spool turns the voice messages Asterisk recorded while rexian was down into
// tickets.
//
// When no rexian is attached to the Stasis application, Stasis() fails at once and the
// dialplan in deploy/asterisk takes over: an apology, a beep, and Record() into
// <spool>/incoming/; when the caller hangs up (or presses #) a hang-up handler moves the
// file into <spool>/ itself. The file name carries everything the ticket needs:
//
//	<time>_<caller>_<dialled>_<uniqueid>.<format>
//	20261126T203015Z_13800138000_12345_1795720916.93.wav
//
// time is when the message began, in UTC (YYYYMMDDTHHMMSSZ); caller is the caller's number
// (digits, perhaps a leading +) or "unknown" when withheld; dialled is the hotline number
// the caller dialled, or "unknown"; uniqueid is Asterisk's UNIQUEID of the call, which
// makes the name unique and lets an administrator find the call in Asterisk's logs.
//
// A Worker scans the folder when rexian is back and hands each message to a Registrar,
// which the ivr package implements. The file name is the message's external reference:
// the Registrar must return the existing ticket for a reference it has seen, so that a
// crash between registering a message and moving its file to done/ never makes two
// tickets. Files that cannot become tickets go to failed/ with a log line naming them.
//
//	<spool>/incoming/  being recorded (written by Asterisk)
//	<spool>/*.wav      complete, waiting for rexian
//	<spool>/done/      registered as tickets (kept as the ticket's evidence)
//	<spool>/failed/    not registered: see the log line naming the file
package spool
