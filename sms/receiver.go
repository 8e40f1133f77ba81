package sms

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/tickets"
)

var _ Receiver = (*Service)(nil)

// partStatusOf maps a report's state to a part status.
func partStatusOf(st DeliveryState) (PartStatus, bool) {
	switch st {
	case DeliveryAccepted:
		return PartAccepted, true
	case DeliveryBuffered:
		return PartBuffered, true
	case DeliveryDelivered:
		return PartDelivered, true
	case DeliveryFailed:
		return PartFailed, true
	}
	return "", false
}

// Report records a delivery report for one part. It is idempotent and takes reports in
// any order: a final state (delivered, failed) is never changed by a later report, and a
// report that arrives before the sender recorded the part as submitted still counts (it
// proves the part was sent). A report for an unknown part is logged and acknowledged.
//
// Reports arriving together are written together (reports.go): Report returns only once
// its report is committed, but one commit serves every report that queued meanwhile.
func (s *Service) Report(ctx context.Context, r Report) error {
	st, ok := partStatusOf(r.State)
	if !ok {
		s.log.WarnContext(ctx, "sms report with an unknown state acknowledged", "message", r.MessageID, "part", r.PartID, "state", r.State)
		return nil
	}
	at := r.At
	if at.IsZero() {
		at = s.clock()
	}
	return s.reports.submit(ctx, s, pendingReport{
		r: r, st: st, at: at.UTC().Truncate(time.Microsecond),
		detail: truncate(strings.ToValidUTF8(r.Detail, "?"), 255),
		gwID:   truncate(strings.ToValidUTF8(r.GatewayID, "?"), 64),
	})
}

// applyReports writes a batch of reports: every part's update in one transaction, then
// the settling of their messages in another. Settling after the parts' commit is what
// makes concurrent batches (several instances) safe: the last batch to commit a part of a
// message sees every part's committed state and settles it.
func (s *Service) applyReports(ctx context.Context, batch []*pendingReport) error {
	var unmatched []*pendingReport
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		unmatched = unmatched[:0]
		for _, p := range batch {
			res := tx.Exec(`UPDATE sms_parts SET status = ?, reported_at = ?, detail = ?,
gateway_id = CASE WHEN ? <> '' THEN ? ELSE gateway_id END
WHERE id = ? AND message_id = ? AND status NOT IN ?`, p.st, p.at, p.detail, p.gwID, p.gwID, p.r.PartID, p.r.MessageID, finalPart)
			if res.Error != nil {
				return fmt.Errorf("sms: report for part %d of message %d: %w", p.r.PartID, p.r.MessageID, res.Error)
			}
			if res.RowsAffected == 0 {
				unmatched = append(unmatched, p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range unmatched {
		var part MessagePart
		err := s.db.WithContext(ctx).Where("id = ? AND message_id = ?", p.r.PartID, p.r.MessageID).Take(&part).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			s.log.WarnContext(ctx, "sms report for an unknown part acknowledged", "message", p.r.MessageID, "part", p.r.PartID,
				"state", p.r.State, "gateway_id", p.r.GatewayID)
			p.st = "" // nothing to settle
			continue
		case err != nil:
			return fmt.Errorf("sms: report for part %d: %w", p.r.PartID, err)
		}
		if part.Status != p.st {
			s.log.InfoContext(ctx, "sms late report ignored: the part is already final", "message", p.r.MessageID, "part", p.r.PartID,
				"final", part.Status, "reported", p.r.State)
		}
		p.st = part.Status // settle below in case an earlier report's settling was cut short
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		txs := &Service{db: tx}
		for _, p := range batch {
			if p.st == PartDelivered || p.st == PartFailed {
				if err := txs.settle(ctx, p.r.MessageID, p.st, p.at); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// settle gives a message the status its parts now say, after a part reached st.
func (s *Service) settle(ctx context.Context, id uint64, st PartStatus, at time.Time) error {
	open := []Status{StatusQueued, StatusSubmitting, StatusSubmitted}
	var err error
	switch st {
	case PartFailed:
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, error = ?, lease_owner = '', lease_until = NULL,
updated_at = ? WHERE id = ? AND status IN ? AND EXISTS (SELECT 1 FROM sms_parts WHERE message_id = ? AND status = ?)`,
			StatusFailed, at, "a part was not delivered", at, id, open, id, PartFailed).Error
	case PartDelivered:
		// A message given up (expired) while its report was on the way was delivered after all.
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, submitted_at = COALESCE(submitted_at, ?),
lease_owner = '', lease_until = NULL, updated_at = ?
WHERE id = ? AND status IN ? AND NOT EXISTS (SELECT 1 FROM sms_parts WHERE message_id = ? AND status <> ?)`,
			StatusDelivered, at, at, at, id, append(open, StatusExpired), id, PartDelivered).Error
	}
	if err != nil {
		return fmt.Errorf("sms: settle message %d: %w", id, err)
	}
	return nil
}

// smsActor is who the outbox acts as on tickets.
var smsActor = &auth.Principal{Name: "sms", DisplayName: "短信", Role: auth.RoleOperator}

// MaxInboundRunes bounds a stored inbound text (a concatenated SMS is far shorter).
const MaxInboundRunes = 2000

// Receive stores an inbound message, then routes it. Storing comes first: once it is
// stored the gateway gets success, and a routing failure is retried by reconcile, so
// nothing a citizen sent is lost. A repeated callback (same gateway id) is stored once.
func (s *Service) Receive(ctx context.Context, m Inbound) error {
	from := strings.TrimSpace(m.From)
	if n, err := phone.Parse(from); err == nil {
		from = n.National
	}
	// The text rule of every input (api.CleanText): a message is kept, cleaned.
	text := api.CleanText(m.Text)
	if utf8.RuneCountInString(text) > MaxInboundRunes {
		text = string([]rune(text)[:MaxInboundRunes])
	}
	at := m.At
	if at.IsZero() {
		at = s.clock()
	}
	row := InboundMessage{From: truncate(strings.ToValidUTF8(from, "?"), 32), To: truncate(strings.ToValidUTF8(m.To, "?"), 32),
		Text: text, ReceivedAt: at.UTC().Truncate(time.Microsecond), Route: RoutePending, CreatedAt: s.clock()}
	if id := strings.TrimSpace(m.GatewayID); id != "" {
		ref := truncate(strings.ToValidUTF8(id, "?"), 64)
		row.GatewayRef = &ref
	}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		s.log.InfoContext(ctx, "sms inbound repeated by the gateway; stored once", "gateway_id", m.GatewayID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sms: store inbound from %s: %w", phone.Mask(from), err)
	}
	if err := s.route(ctx, &row); err != nil {
		// Stored: reconcile routes it again later.
		s.log.ErrorContext(ctx, "sms inbound routing failed; will retry", "inbound", row.ID, "from", phone.Mask(from), "err", err)
	}
	return nil
}

// rerouteInbound routes inbound messages left pending for a minute (a crash or an error
// between storing and routing).
func (s *Service) rerouteInbound(ctx context.Context, now time.Time) error {
	var rows []InboundMessage
	if err := s.db.WithContext(ctx).Where("route = ? AND created_at <= ?", RoutePending, now.Add(-time.Minute)).
		Order("id").Limit(100).Find(&rows).Error; err != nil {
		return fmt.Errorf("sms: find unrouted inbound: %w", err)
	}
	for i := range rows {
		if err := s.route(ctx, &rows[i]); err != nil {
			s.log.ErrorContext(ctx, "sms inbound routing failed again", "inbound", rows[i].ID, "err", err)
			if now.Sub(rows[i].CreatedAt) > 24*time.Hour {
				s.setRoute(ctx, &rows[i], RouteFailed, "", nil, err.Error())
			}
		}
	}
	return nil
}

// route decides what an inbound message is: an opt-out, a status query, a survey answer,
// or a matter for a ticket.
func (s *Service) route(ctx context.Context, m *InboundMessage) error {
	n, err := phone.Parse(m.From)
	if err != nil || n.Kind != phone.Mobile {
		return s.setRoute(ctx, m, RouteIgnored, "", nil, "the sender is not a mobile number")
	}
	if strings.TrimSpace(m.Text) == "" {
		return s.setRoute(ctx, m, RouteIgnored, "", nil, "empty message")
	}
	key := keyword(m.Text)
	if IsOptOut(m.Text) {
		return s.optOut(ctx, m)
	}
	if number, ok := strings.CutPrefix(key, "查询"); ok && number != "" && isDigits(number) {
		return s.query(ctx, m, number)
	}
	if p := s.surveys.Load(); p != nil {
		handled, err := (*p).Answer(ctx, m.From, m.Text, m.ReceivedAt)
		if err != nil {
			return fmt.Errorf("survey answer: %w", err)
		}
		if handled {
			return s.setRoute(ctx, m, RouteSurvey, "", nil, "")
		}
	}
	return s.toTicket(ctx, m)
}

func (s *Service) setRoute(ctx context.Context, m *InboundMessage, r Route, ticket string, reply *uint64, why string) error {
	m.Route, m.TicketNumber, m.ReplyID, m.RouteError = r, ticket, reply, why
	err := s.db.WithContext(ctx).Model(&InboundMessage{}).Where("id = ?", m.ID).
		Updates(map[string]any{"route": r, "ticket_number": ticket, "reply_id": reply, "route_error": why}).Error
	if err != nil {
		return fmt.Errorf("sms: record route of inbound %d: %w", m.ID, err)
	}
	return nil
}

// keyword normalises a short command: full-width letters and digits become ASCII, spaces
// and surrounding punctuation go, letters are upper-cased.
func keyword(text string) string {
	var b strings.Builder
	for _, r := range text {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII block
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) || r == '\u3000' {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return strings.TrimFunc(b.String(), func(r rune) bool {
		return unicode.IsPunct(r) || strings.ContainsRune("。，、！？～~", r)
	})
}

// IsOptOut reports whether text asks to stop messages: 退订, TD or T, in any case, with or
// without spaces, in half- or full-width letters.
func IsOptOut(text string) bool {
	switch keyword(text) {
	case "退订", "TD", "T":
		return true
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (s *Service) optOut(ctx context.Context, m *InboundMessage) error {
	_, err := s.addSuppression(ctx, Suppression{
		Phone: m.From, Reason: "opt_out", Note: fmt.Sprintf("inbound message %d: %s", m.ID, truncate(m.Text, 64)),
		CreatedBy: "citizen", CreatedAt: s.clock(),
	})
	if err != nil {
		return fmt.Errorf("sms: opt out of inbound %d: %w", m.ID, err)
	}
	if err := s.suppressQueued(ctx, m.From); err != nil {
		return err
	}
	reply, err := s.reply(ctx, m, TemplateOptOut, nil, "")
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "sms opt-out recorded", "inbound", m.ID, "from", phone.Mask(m.From))
	return s.setRoute(ctx, m, RouteOptOut, "", reply, "")
}

// reply queues an automatic answer to an inbound message, once per inbound message.
func (s *Service) reply(ctx context.Context, m *InboundMessage, template string, vars map[string]string, ticket string) (*uint64, error) {
	msg, _, err := s.Enqueue(ctx, NewMessage{Kind: KindReply, To: m.From, Template: template, Variables: vars,
		IdempotencyKey: fmt.Sprintf("reply:%d", m.ID), TicketNumber: ticket, CreatedBy: "system:sms"})
	if err != nil {
		return nil, fmt.Errorf("sms: reply to inbound %d: %w", m.ID, err)
	}
	return &msg.ID, nil
}

// statusWords are how a ticket's status is told to the citizen.
var statusWords = map[tickets.Status]string{
	tickets.StatusRegistered: "已受理，待派单",
	tickets.StatusDispatched: "已派单，待承办单位签收",
	tickets.StatusHandling:   "办理中",
	tickets.StatusReplied:    "承办单位已答复，审核中",
	tickets.StatusReturned:   "办理中",
	tickets.StatusCompleted:  "已办结",
	tickets.StatusRefused:    "不予受理",
	tickets.StatusMerged:     "已与其他工单合并办理",
}

// query answers "查询 <number>" with the ticket's status, department and due date. A
// ticket of another phone number is answered as not found: a number alone must not
// disclose somebody else's matter.
func (s *Service) query(ctx context.Context, m *InboundMessage, number string) error {
	if s.tickets == nil {
		return errors.New("status query: no ticket store")
	}
	if !tickets.CheckNumber(number) {
		reply, err := s.reply(ctx, m, TemplateQueryInvalid, map[string]string{"number": number}, "")
		if err != nil {
			return err
		}
		return s.setRoute(ctx, m, RouteQuery, "", reply, "")
	}
	v, err := s.tickets.Find(ctx, smsActor, number)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("status query %s: %w", number, err)
	}
	if err != nil || v.Citizen.Phone != m.From {
		reply, err := s.reply(ctx, m, TemplateQueryNotFound, map[string]string{"number": number}, "")
		if err != nil {
			return err
		}
		return s.setRoute(ctx, m, RouteQuery, "", reply, "")
	}
	dept := "市民热线服务中心"
	if v.LeadDepartment != nil {
		dept = v.LeadDepartment.Name
	}
	due := "无"
	switch {
	case v.CompletedAt != nil:
		due = v.CompletedAt.In(s.loc).Format("2006年1月2日") + "已办结"
	case v.DueAt != nil:
		due = v.DueAt.In(s.loc).Format("2006年1月2日15:04")
	}
	reply, err := s.reply(ctx, m, TemplateQueryReply, map[string]string{
		"number": v.Number, "status": statusWords[v.Status], "department": dept, "due": due}, v.Number)
	if err != nil {
		return err
	}
	return s.setRoute(ctx, m, RouteQuery, v.Number, reply, "")
}

// toTicket opens a ticket for the message, or, within the number's conversation window,
// adds it to the ticket the conversation opened.
func (s *Service) toTicket(ctx context.Context, m *InboundMessage) error {
	if s.tickets == nil {
		return errors.New("inbound ticket: no ticket store")
	}
	unlock, err := s.lockPhone(ctx, m.From)
	if err != nil {
		return err
	}
	defer unlock()
	now := s.clock()

	// The number's latest conversation; the lock keeps it one row per number.
	var convs []Conversation
	if err := s.db.WithContext(ctx).Where(pii.Is(s.db, "phone", "phone_idx", m.From)).Order("last_at DESC, id DESC").Limit(1).Find(&convs).Error; err != nil {
		return fmt.Errorf("sms: conversation of inbound %d: %w", m.ID, err)
	}
	var conv Conversation
	if len(convs) > 0 {
		conv = convs[0]
	}
	if conv.ID != 0 && now.Before(conv.LastAt.Add(s.opts.ConversationWindow)) {
		appended, err := s.appendToTicket(ctx, m, conv.TicketNumber)
		if err != nil {
			return err
		}
		if appended {
			if err := s.db.WithContext(ctx).Model(&Conversation{}).Where("id = ?", conv.ID).Update("last_at", now).Error; err != nil {
				return fmt.Errorf("sms: extend conversation: %w", err)
			}
			return s.setRoute(ctx, m, RouteTicketAppend, conv.TicketNumber, nil, "")
		}
	}

	// A retry after a crash finds the ticket the first attempt opened.
	ref := fmt.Sprintf("sms:%d", m.ID)
	var numbers []string
	if err := s.db.WithContext(ctx).Model(&tickets.Ticket{}).Where("external_ref = ?", ref).Pluck("number", &numbers).Error; err != nil {
		return fmt.Errorf("sms: find ticket of inbound %d: %w", m.ID, err)
	}
	number := ""
	if len(numbers) > 0 {
		number = numbers[0]
	} else {
		yes := true
		v, err := s.tickets.Create(ctx, smsActor, tickets.NewTicket{
			Channel:  tickets.ChannelSMS,
			Citizen:  tickets.NewCitizen{Phone: m.From, WantsReply: &yes},
			Content:  m.Text,
			Category: s.opts.InboundCategory,
			Ref:      ref,
		})
		if err != nil {
			return fmt.Errorf("sms: open ticket for inbound %d: %w", m.ID, err)
		}
		number = v.Number
	}
	if conv.ID != 0 {
		err = s.db.WithContext(ctx).Model(&Conversation{}).Where("id = ?", conv.ID).
			Updates(map[string]any{"ticket_number": number, "opened_at": now, "last_at": now}).Error
	} else {
		err = s.db.WithContext(ctx).Create(&Conversation{Phone: m.From, TicketNumber: number, OpenedAt: now, LastAt: now}).Error
	}
	if err != nil {
		return fmt.Errorf("sms: open conversation: %w", err)
	}
	// The same key as the ticket-message worker's, so the citizen gets one receipt.
	msg, _, err := s.Enqueue(ctx, NewMessage{Kind: KindReceipt, To: m.From, Template: TemplateReceipt,
		Variables: map[string]string{"number": number, "title": ""}, IdempotencyKey: "receipt:" + number,
		TicketNumber: number, CreatedBy: "system:sms"})
	if err != nil {
		return fmt.Errorf("sms: receipt for %s: %w", number, err)
	}
	s.log.InfoContext(ctx, "sms inbound opened a ticket", "inbound", m.ID, "ticket", number, "from", phone.Mask(m.From))
	return s.setRoute(ctx, m, RouteTicket, number, &msg.ID, "")
}

// appendToTicket adds a follow-up message to an open ticket's timeline as a text
// attachment (the ticket API's way of adding material to a ticket). It reports false when
// the ticket can take nothing more (closed), so that a new ticket is opened.
func (s *Service) appendToTicket(ctx context.Context, m *InboundMessage, number string) (bool, error) {
	name := fmt.Sprintf("短信追加-%s-%d.txt", m.ReceivedAt.In(s.loc).Format("20060102-150405"), m.ID)
	body := fmt.Sprintf("%s 来自 %s 的短信：\n%s\n", m.ReceivedAt.In(s.loc).Format("2006-01-02 15:04:05"), m.From, m.Text)
	_, err := s.tickets.AddAttachment(ctx, smsActor, number, name, strings.NewReader(body))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, api.ErrConflict), errors.Is(err, api.ErrNotFound):
		return false, nil // closed or gone: a new matter
	case errors.Is(err, api.ErrUnavailable):
		// Attachments are off: the inbound list still links the message to the ticket.
		s.log.WarnContext(ctx, "sms follow-up linked but not added to the ticket: attachments are off", "inbound", m.ID, "ticket", number)
		return true, nil
	}
	return false, fmt.Errorf("sms: add inbound %d to ticket %s: %w", m.ID, number, err)
}

// lockPhone serialises routing of one number's messages and writes to its opt-out and
// conversation rows (one each: their sealed number cannot be a unique key): in this process by a striped
// mutex, across instances by a short Redis lock (best effort when Redis is away).
func (s *Service) lockPhone(ctx context.Context, number string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(number))
	mu := &s.phoneLocks[h.Sum32()%uint32(len(s.phoneLocks))]
	mu.Lock()
	if s.live == nil {
		return mu.Unlock, nil
	}
	// Redis sees the number's blind index when keys are configured, not the number.
	name := number
	if ix := pii.Keys(s.db).Index(number); ix != "" {
		name = ix
	}
	key := s.live.Key("sms", "conversation", name)
	token := randomHex(8)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.live.SetNX(ctx, key, token, 30*time.Second).Result()
		if err != nil {
			s.log.WarnContext(ctx, "sms conversation lock unavailable; relying on this instance's lock", "err", err)
			return mu.Unlock, nil
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			mu.Unlock()
			return nil, fmt.Errorf("sms: conversation of %s is locked by another instance", phone.Mask(number))
		}
		select {
		case <-ctx.Done():
			mu.Unlock()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		// Delete only our own lock.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		s.live.Eval(ctx, `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, []string{key}, token)
		mu.Unlock()
	}, nil
}

// suppressQueued stops the surveys and free texts already waiting for a number that has
// just opted out: the citizen asked for none, not for none from now on.
func (s *Service) suppressQueued(ctx context.Context, number string) error {
	now := s.clock()
	err := s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, updated_at = ?, error = ?
WHERE ? AND status = ? AND kind IN ?`, StatusSuppressed, now, now, "the recipient opted out before it was sent",
		pii.Is(s.db, "recipient", "recipient_idx", number), StatusQueued, []Kind{KindSurvey, KindFreeText}).Error
	if err != nil {
		return fmt.Errorf("sms: suppress queued messages to %s: %w", phone.Mask(number), err)
	}
	return nil
}
