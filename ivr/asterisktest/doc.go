// Package asterisktest runs the real Asterisk for end-to-end call tests: the relocatable
// Asterisk 22 build the project keeps at ../shared/asterisk/dist (relative to the
// repository root), started with deploy/asterisk as shipped and only its ports and paths
// changed, and SIPp (Debian's sip-tester) playing the carrier's citizens and the
// operators' desk phones, with audio and RFC 2833 digits.
//
// Start unpacks the build once per machine into the user's cache folder, starts one
// Asterisk per test under the test's temporary folder on free ports, places short tones
// where the controller's prompts go, and stops Asterisk when the test ends (printing the
// tail of its log when the test failed). Without the build or SIPp the test is skipped,
// saying why, or failed under REXIAN_TEST_REQUIRE_SERVICES=1 (dbtest.Unavailable).
//
// The carrier is SIPp on the trunk's ports (pjsip.conf identifies the trunk by address
// and port): Carrier places one or more calls, each with its own caller number and script
// of what the citizen does (speak, press keys, wait, hang up), and returns when they
// ended; up to three Carrier runs may overlap. Citizens takes the calls rexian places
// (surveys, call-backs) on the trunk's contact address: each citizen, picked by the
// dialled number, rings, rejects (480, 486), never answers, or answers and speaks,
// presses keys and hangs up; the INVITEs are returned for checks of the caller id. Phone registers a desk phone with its digest credentials and answers what
// Asterisk rings it with.
package asterisktest
