// Package mailbox is the mayor's mailbox (市长信箱): letters read over IMAP become tickets,
// and citizens get their receipt and, on completion, the result by SMTP, in the thread of
// their own letter.
//
// The pieces:
//
//   - ParseLetter turns a raw RFC 5322 letter into a Letter: sender, subject, the text
//     (text/plain preferred, HTML turned into clean text), attachments within limits, and
//     what could not be read. It never fails outright: a broken letter still yields what
//     could be read, and the error says why it is broken.
//   - Intake turns one fetched letter into a ticket, exactly once per Message-ID: the
//     mailbox_letters table claims the Message-ID before the ticket is registered, so two
//     readers, or a reader restarted half-way, never make two tickets of one letter.
//   - Reader keeps an IMAP connection open (TLS, STARTTLS, or plain on loopback only), takes
//     the letters in INBOX one at a time, and moves each to the Processed, Failed or
//     Ignored folder only after its ticket is committed. When the database is down the
//     letter is left untouched in INBOX and retried.
//   - Replier derives the replies owed from durable state — the tickets' event log and the
//     mailbox_replies table of what was sent — so a restart never sends twice and a missed
//     reply is caught up; SMTPSender delivers them.
//
// Auto-replies, bounces and mailing-list traffic are not tickets: they are moved to the
// Ignored folder and logged.
package mailbox
