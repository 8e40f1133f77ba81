// Package dashboards gives supervisors the hotline's figures: accepted, completed and
// on-time tickets, calls and surveys for a period, overall and by department, category,
// channel and district; the three rates (三率) and the service-standard panel (GB/T
// 33358-2016); the overdue list with urging (督办) and on-site supervision records (现场督办);
// red and yellow cards (红黄牌); bulletins (通报) as .xlsx and printable HTML; and the
// published answers (百姓直通车).
//
// Everything is read from durable rows of other domains (tickets, assignments, the
// timeline, ivr_calls, callback_surveys) with aggregate queries that run on SQLite and
// PostgreSQL alike; the package keeps no roll-ups, only what it owns: cards, on-site
// supervision records and published answers. Cards are derived by an idempotent worker
// whose every card names its cause under a unique index, so a repeated or concurrent
// pass never issues a second card for the same cause. A second worker (NotifyCards,
// cardnotice.go) texts each card to its department through the SMS outbox under the
// idempotency key card:<id>; the department signs for it (签收) in its portal or the API.
//
// Survey figures come through the small SurveyCounter interface: by default a reader of
// the callback package's table that reports nothing while the table does not exist, so
// the dashboards work before and after surveys are switched on.
package dashboards
