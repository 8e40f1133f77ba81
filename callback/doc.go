// Package callback runs the satisfaction surveys (回访) of completed tickets.
//
// Every survey is derived from durable state. A scheduling pass reads the tickets'
// timeline behind a cursor and turns each completion (approve, or a direct answer) into
// at most one Survey row, keyed on the ticket and the completion event's sequence number,
// so that a restart or a second instance never surveys a completion twice and a ticket
// completed again after a reopening gets a new survey. The policy decides there and then,
// deterministically (sampling hashes the ticket number and the event), whether and when.
//
// From then on the survey moves through its statuses by passes that anyone may repeat:
//
//	pending      waiting for its due time inside the allowed hours
//	awaiting_sms the survey SMS is queued; the citizen may answer 1/2/3 by SMS
//	calling      due for an outbound IVR call (landlines, or no SMS answer in time)
//	manual       on the operators' manual callback list
//	done         a result: satisfied, fairly_satisfied, dissatisfied, unreachable, refused
//	skipped      not surveyed (not sampled, anonymous, no reply wanted, no phone, reopened)
//
// A dissatisfied result reopens the ticket for supervision (督办) with the reason in its
// timeline, once the reason is known (after the reason SMS's window, or at once for a call
// or a manual answer). Supervisors find fresh dissatisfied results through the survey list
// (GET /callback/surveys?result=dissatisfied&since=…) and the figures through
// GET /callback/stats.
package callback
