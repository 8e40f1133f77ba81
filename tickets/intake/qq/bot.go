package qq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// actor is who registers QQ tickets: a desk operator named qq, because registration and
// attaching images are desk actions; the timeline shows "operator:qq".
var actor = &auth.Principal{Name: "qq", DisplayName: "QQ", Role: auth.RoleOperator}

// Conversation steps: what is asked next.
const (
	stepWhat  = "what"  // what happened
	stepWhere = "where" // where
	stepPhone = "phone" // a mobile for a callback, or 无
	stepRetry = "retry" // everything is told; registration failed and waits for a retry
)

// conversation is a report being told, kept in Redis between messages.
type conversation struct {
	Step     string   `json:"step"`
	Content  string   `json:"content"`
	Address  string   `json:"address"`
	Phone    string   `json:"phone"`
	Images   []string `json:"images"`
	Name     string   `json:"name"`
	Messages []string `json:"messages"` // the message ids the report came in
}

// Conversation texts.
const (
	askWhat      = "您好，这里是12345市民热线。请描述您遇到的问题（发生了什么），可以附上照片。发送“取消”可随时结束。"
	askWhatMore  = "请再详细描述一下您遇到的问题（至少5个字）。"
	askWhere     = "问题发生在哪里？请告诉我们旗区、苏木乡镇（街道）和详细地址。"
	askWhereMore = "请告诉我们具体地点，例如：东胜区交通街道幸福小区3号楼。"
	askPhone     = "如需工作人员回电联系您，请留下手机号码；不需要请回复“无”。"
	askPhoneBad  = "手机号码格式不正确，请输入11位手机号码，或回复“无”。"
	cancelled    = "已取消本次反映。如有需要，随时给我们发消息。"
	failedText   = "系统暂时无法受理您的诉求，您提供的信息已为您保留。请稍后回复任意内容重试，或拨打12345热线反映。"
	queryHelp    = "请发送“查询 工单号”，例如：查询 2600000014"
	noSuchTicket = "没有找到通过本QQ号反映的工单 %s。其他渠道反映的工单，请在网站上凭手机号后四位查询，或拨打12345热线查询。"
)

const (
	minContentRunes = 5
	maxContentRunes = 2000
	maxImages       = 6
	seenTTL         = 24 * time.Hour
)

// BotOptions configure the conversation.
type BotOptions struct {
	Store *tickets.Store
	Live  *live.Store
	Send  Sender
	Log   *slog.Logger
	// Category is the category code QQ reports are registered under; the desk
	// reclassifies when it dispatches.
	Category string
	Timeout  time.Duration // how long a half-told report waits (default 30 min)
	Fetch    imageFetcher
	Replies  *Replier
}

// Bot talks with citizens and registers their reports.
type Bot struct {
	opts BotOptions
	log  *slog.Logger

	// One conversation's messages are handled one at a time in this process; events
	// from one bot arrive in order on its connection anyway.
	mu    sync.Mutex
	locks map[string]*convLock
}

type convLock struct {
	sync.Mutex
	users int
}

// NewBot returns a bot.
func NewBot(opts BotOptions) *Bot {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Minute
	}
	return &Bot{opts: opts, log: opts.Log, locks: map[string]*convLock{}}
}

// scope names the conversation of an event: one per user in private, and one per user
// within a group.
func scope(ev *Event) string {
	if ev.MessageType == "group" {
		return fmt.Sprintf("%s:g:%s:%s", ev.SelfID, ev.GroupID, ev.UserID)
	}
	return fmt.Sprintf("%s:p:%s", ev.SelfID, ev.UserID)
}

// externalRef is what the ticket keeps to answer on QQ later.
func externalRef(to Target) string {
	if to.GroupID != 0 {
		return fmt.Sprintf("qq:%s:group:%s:%s", to.SelfID, to.GroupID, to.UserID)
	}
	return fmt.Sprintf("qq:%s:private:%s", to.SelfID, to.UserID)
}

// parseRef reverses externalRef.
func parseRef(ref string) (Target, bool) {
	var to Target
	parts := strings.Split(ref, ":")
	var ids []string
	switch {
	case len(parts) == 4 && parts[0] == "qq" && parts[2] == "private":
		ids = []string{parts[1], parts[3]}
	case len(parts) == 5 && parts[0] == "qq" && parts[2] == "group":
		ids = []string{parts[1], parts[4], parts[3]}
	default:
		return to, false
	}
	for i, dst := range []*ID{&to.SelfID, &to.UserID, &to.GroupID}[:len(ids)] {
		if err := dst.UnmarshalJSON([]byte(ids[i])); err != nil || *dst <= 0 {
			return to, false
		}
	}
	return to, true
}

func (b *Bot) lock(key string) func() {
	b.mu.Lock()
	m, ok := b.locks[key]
	if !ok {
		m = &convLock{}
		b.locks[key] = m
	}
	m.users++
	b.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		b.mu.Lock()
		if m.users--; m.users == 0 {
			delete(b.locks, key)
		}
		b.mu.Unlock()
	}
}

// Handle acts on one event. Events that are not for the bot are ignored; an error means
// the event could not be handled and the citizen could not be told.
func (b *Bot) Handle(ctx context.Context, ev *Event) error {
	if ev.PostType != "message" || ev.UserID <= 0 || ev.SelfID <= 0 || ev.UserID == ev.SelfID {
		return nil
	}
	to := Target{SelfID: ev.SelfID, UserID: ev.UserID}
	switch ev.MessageType {
	case "private":
	case "group":
		if ev.GroupID <= 0 || !ev.Message.Mentions(ev.SelfID) {
			return nil // group chatter not addressed to the bot
		}
		to.GroupID = ev.GroupID
	default:
		return nil
	}
	log := b.log.With("self_id", ev.SelfID, "user_id", ev.UserID, "group_id", ev.GroupID, "message_id", ev.MessageID)
	if b.replayed(ctx, log, ev) {
		log.InfoContext(ctx, "qq event replayed; ignored")
		return nil
	}
	key := scope(ev)
	defer b.lock(key)()

	text := strings.TrimSpace(ev.Message.Text())
	if rest, ok := strings.CutPrefix(text, "查询"); ok {
		return b.reply(ctx, to, b.status(ctx, to, strings.TrimSpace(rest)))
	}
	conv, err := b.load(ctx, key)
	if err != nil {
		log.ErrorContext(ctx, "qq conversation not loaded", "err", err)
		return b.reply(ctx, to, failedText)
	}
	if text == "取消" {
		b.drop(ctx, key)
		return b.reply(ctx, to, cancelled)
	}
	if conv == nil {
		conv = &conversation{Step: stepWhat}
	}
	if n := ev.Sender.Card; n != "" {
		conv.Name = n
	} else if n := ev.Sender.Nickname; n != "" && conv.Name == "" {
		conv.Name = n
	}
	for _, img := range ev.Message.Images() {
		if len(conv.Images) < maxImages {
			conv.Images = append(conv.Images, img)
		}
	}
	conv.Messages = append(conv.Messages, ev.MessageID.String())

	answer := ""
	switch conv.Step {
	case stepWhat:
		switch n := utf8.RuneCountInString(text); {
		case n < minContentRunes && len(conv.Messages) == 1:
			answer = askWhat // a greeting, or a photo first
		case n < minContentRunes:
			answer = askWhatMore
		case n > maxContentRunes:
			answer = fmt.Sprintf("内容有%d字，请精简到%d字以内后重新发送。", n, maxContentRunes)
		default:
			conv.Content, conv.Step, answer = text, stepWhere, askWhere
		}
	case stepWhere:
		if utf8.RuneCountInString(text) < 2 || utf8.RuneCountInString(text) > 200 {
			answer = askWhereMore
		} else {
			conv.Address, conv.Step, answer = text, stepPhone, askPhone
		}
	case stepPhone:
		switch text {
		case "无", "没有", "不需要", "不用", "否", "不", "0":
			conv.Step = stepRetry
		default:
			n, err := phone.Parse(text)
			if err != nil || !n.IsMobile() {
				answer = askPhoneBad
			} else {
				conv.Phone, conv.Step = n.National, stepRetry
			}
		}
	}
	if conv.Step != stepRetry {
		if err := b.save(ctx, key, conv); err != nil {
			log.ErrorContext(ctx, "qq conversation not saved", "err", err)
			return b.reply(ctx, to, failedText)
		}
		return b.reply(ctx, to, answer)
	}
	return b.register(ctx, log, key, to, conv)
}

// register turns a told report into a ticket. When that fails the report stays in Redis
// and the citizen is told to send anything to try again.
func (b *Bot) register(ctx context.Context, log *slog.Logger, key string, to Target, conv *conversation) error {
	images, notes := b.fetchImages(ctx, log, conv.Images)
	loc := b.place(ctx, conv.Address)
	wants := true
	in := tickets.NewTicket{
		Channel:  tickets.ChannelQQ,
		Citizen:  tickets.NewCitizen{Name: truncate(conv.Name, 60), Phone: conv.Phone, WantsReply: &wants},
		Content:  conv.Content,
		Category: b.opts.Category,
		Location: loc,
		Ref:      externalRef(to),
		Note:     strings.Join(append([]string{"QQ消息 " + strings.Join(conv.Messages, ",")}, notes...), "\n"),
	}
	// A message is kept whatever it holds: control characters and direction overrides
	// are taken out (api.CleanText), not refused.
	api.CleanFields(&in)
	v, err := b.opts.Store.Create(ctx, actor, in)
	if err != nil {
		if errors.Is(err, api.ErrInvalid) {
			log.ErrorContext(ctx, "qq report refused by the store; check qq.default_category", "err", err)
		} else {
			log.ErrorContext(ctx, "qq report not registered", "err", err)
		}
		if serr := b.save(ctx, key, conv); serr != nil {
			log.ErrorContext(ctx, "qq conversation not saved", "err", serr)
		}
		return b.reply(ctx, to, failedText)
	}
	log = log.With("ticket", v.Number)
	log.InfoContext(ctx, "qq report registered", "images", len(images))
	b.drop(ctx, key)
	for i, img := range images {
		name := fmt.Sprintf("图片%d%s", i+1, img.ext)
		if _, err := b.opts.Store.AddAttachment(ctx, actor, v.Number, name, bytes.NewReader(img.data)); err != nil {
			log.ErrorContext(ctx, "qq image not stored", "image", i+1, "err", err)
		}
	}
	// The receipt goes through the sent-replies table, so that a failed send is retried
	// by the reply worker instead of leaving the citizen without their number.
	if b.opts.Replies != nil {
		b.opts.Replies.deliver(ctx, v.Number, registerSeq(v), to, receipt(v.Number))
		return nil
	}
	return b.reply(ctx, to, receipt(v.Number))
}

func registerSeq(v *tickets.View) int {
	for _, e := range v.Timeline {
		if e.Action == tickets.ActRegister {
			return e.Seq
		}
	}
	return 1
}

func receipt(number string) string {
	return fmt.Sprintf("您反映的问题已受理，工单号：%s。我们会尽快办理，办结后在这里告诉您结果。发送“查询 %s”可了解办理进度。", number, number)
}

// status answers "查询 <number>" for tickets this QQ account reported.
func (b *Bot) status(ctx context.Context, to Target, raw string) string {
	if raw == "" {
		return queryHelp
	}
	number := tickets.NormalizeNumber(raw)
	if !tickets.CheckNumber(number) {
		return "工单号有误，请核对后重新发送。" + queryHelp
	}
	v, err := b.opts.Store.Find(ctx, actor, number)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		b.log.ErrorContext(ctx, "qq status look-up failed", "ticket", number, "err", err)
		return "系统暂时无法查询，请稍后再试，或拨打12345热线查询。"
	}
	// Only the reporter's own account sees the progress; every other number, known or
	// not, gets the same answer.
	if v == nil || v.Channel != tickets.ChannelQQ || !sameReporter(v.ExternalRef, to) {
		return fmt.Sprintf(noSuchTicket, number)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "工单 %s：%s", v.Number, intake.StatusLabel(v.Status))
	if v.LeadDepartment != nil && v.Status.Open() {
		fmt.Fprintf(&s, "\n承办单位：%s", v.LeadDepartment.Name)
	}
	if v.DueAt != nil && v.Status.Open() {
		fmt.Fprintf(&s, "\n办理期限：%s前", v.DueAt.Format("2006-01-02 15:04"))
	}
	if res := intake.ResultText(v); res != "" {
		fmt.Fprintf(&s, "\n办理结果：%s", res)
	}
	return s.String()
}

// sameReporter: the ticket came from this user through this bot (in any chat).
func sameReporter(ref string, to Target) bool {
	t, ok := parseRef(ref)
	return ok && t.SelfID == to.SelfID && t.UserID == to.UserID
}

// place finds the district and township named in an address, by their short names
// (东胜区, 交通街道), so that a report with a clear place reaches its government.
func (b *Bot) place(ctx context.Context, address string) tickets.NewLocation {
	loc := tickets.NewLocation{Address: truncate(address, 200)}
	depts, err := b.opts.Store.Departments(ctx)
	if err != nil {
		return loc
	}
	districts := map[string]bool{}
	for _, d := range depts {
		if d.Active && d.Level == tickets.LevelDistrict && d.Government && d.Parent == "" {
			districts[d.Code] = true
			if strings.Contains(address, shortName(d.Name)) {
				loc.District = d.Code
			}
		}
	}
	for _, d := range depts {
		if d.Active && d.Level == tickets.LevelTownship && districts[d.Parent] && strings.Contains(address, shortName(d.Name)) &&
			(loc.District == "" || loc.District == d.Parent) {
			loc.District, loc.Township = d.Parent, d.Code
		}
	}
	return loc
}

func shortName(name string) string {
	name = intake.PlaceName(name)
	if utf8.RuneCountInString(name) < 2 {
		return "\x00" // too short to match safely
	}
	return name
}

// replayed reports whether this message was seen in the last day; it remembers it.
func (b *Bot) replayed(ctx context.Context, log *slog.Logger, ev *Event) bool {
	if b.opts.Live == nil {
		return false
	}
	id := ev.MessageID.String()
	if ev.MessageID == 0 {
		// No id: the event's own content names it.
		h := sha256.Sum256([]byte(fmt.Sprint(ev.Time, ev.UserID, ev.GroupID, FormatCQ(ev.Message))))
		id = "h" + hex.EncodeToString(h[:12])
	}
	ok, err := b.opts.Live.SetNX(ctx, b.opts.Live.Key("qq", "seen", ev.SelfID.String(), id), 1, seenTTL).Result()
	if err != nil {
		// Without Redis a replay cannot be told apart; handling it twice is better than
		// dropping a citizen's message.
		log.WarnContext(ctx, "qq replay check unavailable", "err", err)
		return false
	}
	return !ok
}

func (b *Bot) convKey(key string) string { return b.opts.Live.Key("qq", "conversation", key) }

func (b *Bot) load(ctx context.Context, key string) (*conversation, error) {
	raw, err := b.opts.Live.Get(ctx, b.convKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load qq conversation %s: %w", key, err)
	}
	var c conversation
	if err := json.Unmarshal(raw, &c); err != nil {
		// A state we cannot read is started afresh rather than blocking the citizen.
		return nil, nil
	}
	return &c, nil
}

func (b *Bot) save(ctx context.Context, key string, c *conversation) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := b.opts.Live.Set(ctx, b.convKey(key), raw, b.opts.Timeout).Err(); err != nil {
		return fmt.Errorf("save qq conversation %s: %w", key, err)
	}
	return nil
}

func (b *Bot) drop(ctx context.Context, key string) {
	if err := b.opts.Live.Del(ctx, b.convKey(key)).Err(); err != nil {
		b.log.WarnContext(ctx, "qq conversation not removed", "conversation", key, "err", err)
	}
}

// reply sends text to the target; in a group it @-mentions the citizen.
func (b *Bot) reply(ctx context.Context, to Target, text string) error {
	if text == "" {
		return nil
	}
	msg := Message{{Type: "text", Data: map[string]string{"text": text}}}
	if to.GroupID != 0 {
		msg = Message{{Type: "at", Data: map[string]string{"qq": to.UserID.String()}}, {Type: "text", Data: map[string]string{"text": " " + text}}}
	}
	if err := b.opts.Send.Send(ctx, to, msg); err != nil {
		return fmt.Errorf("reply to qq %s: %w", to.UserID, err)
	}
	return nil
}
