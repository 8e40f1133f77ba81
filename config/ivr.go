package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ARI says how to reach Asterisk. Several nodes may be listed (REXIAN_ARI_URL takes them
// comma-separated); rexian keeps one event socket per node and each call is handled on
// the node that owns it.
type ARI struct {
	URL      []string `yaml:"url"`
	User     string   `yaml:"user"`
	Password string   `yaml:"password" secret:"true"`
	// App is the Stasis application the dialplan sends calls to: Stasis(hotline,<dialled>).
	App string `yaml:"app"`
	// Standby makes the instances pointed at the same Asterisk take turns: one holds a
	// lease in the live store (redis_url, which they must share) and controls the node,
	// the others wait without connecting the Stasis app, and take over within about
	// LeaseTTL when the holder dies. Without it, two instances on one node fight (the
	// later socket takes the app over).
	Standby bool `yaml:"standby"`
	// LeaseTTL is how long a lease lives without renewal: the longest a node stays
	// without a controller after its holder died (plus the take-over). Queued callers
	// hear Asterisk's music meanwhile; a caller between two prompts hears silence.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// SoftphoneWS is the WebSocket URL of Asterisk's SIP transport that operators'
	// browsers register to (ws://127.0.0.1:8088/ws on a console used on the same host,
	// wss://pbx.example:8089/ws otherwise). Set, the desk offers the browser phone and
	// rexian issues each session its own endpoint over ARI; empty, operators use desk
	// phones or softphones only.
	SoftphoneWS string `yaml:"softphone_ws"`
}

// Enabled reports whether a node is configured.
func (a ARI) Enabled() bool { return len(a.URL) > 0 }

// IVR is the telephone side of the hotlines: numbers, menus, queues and prompts. All
// of it is configuration so that another city runs rexian with its own.
type IVR struct {
	// Lines maps dialled numbers to hotlines. A call to a number not listed goes to the
	// first line's hotline and is logged.
	Lines    []Line    `yaml:"lines"`
	Hotlines []Hotline `yaml:"hotlines"`
	Menus    []Menu    `yaml:"menus"`
	Queues   []Queue   `yaml:"queues"`
	// Prompts are the texts `rexian prompts` renders to audio; the controller plays
	// them as sound:<PromptDir>/<name>.
	Prompts   map[string]string `yaml:"prompts"`
	PromptDir string            `yaml:"prompt_dir"`
	// Language is the channel language for number:/digits: playback (Asterisk's say
	// rules; "zh" reads numbers in Mandarin).
	Language string `yaml:"language"`
	// Voicemail takes a voice message when no operator can answer.
	Voicemail Voicemail `yaml:"voicemail"`
	// Status is the ticket-progress lookup by keypad.
	Status StatusLookup `yaml:"status"`
	// Trunk is the dial string for calling citizens back, {number} replaced by the
	// citizen's number (virtual hold, callback surveys). The default goes through the
	// dialplan's [rexian-outbound], which counts the trunk's channels and keeps the last
	// ones for callers; PJSIP/{number}@trunk would bypass that count.
	Trunk string `yaml:"trunk"`
	// OutboundReserve is how many of a line's channels calls rexian places (call-backs,
	// surveys) never take, so that citizens calling in still find a line.
	OutboundReserve int `yaml:"outbound_reserve"`
	// Emergency are the numbers an operator can hand a caller to, name=dial string
	// (110=Local/110@rexian-outbound: through the dialplan, which counts the trunk channel
	// the hand-off takes and never refuses it; PJSIP/110@trunk would bypass that count).
	Emergency []string `yaml:"emergency"`
	// Operators pre-set the phones of operators who log in without naming one,
	// username=dial string (operator1=PJSIP/8001).
	Operators []string `yaml:"operators"`
	// SpoolDir is the folder where the dialplan leaves voice messages recorded while
	// rexian was down (deploy/asterisk); empty turns the import off. It must be the same
	// folder Asterisk writes (same host or a shared mount).
	SpoolDir string `yaml:"spool_dir"`
	// AnswerTarget is the service level: a call answered by a person within this time
	// counts as answered in time (GB/T 33358: 15 s).
	AnswerTarget time.Duration `yaml:"answer_target"`
	// PauseReasons are the reasons an operator gives for being not ready (示忙): the
	// console offers them and the figures count not-ready time by them. Empty: the
	// defaults (DefaultPauseReasons).
	PauseReasons []string `yaml:"pause_reasons"`
}

// DefaultPauseReasons are the not-ready reasons a hotline room uses: a short break, a
// training, a meeting, a meal.
func DefaultPauseReasons() []string { return []string{"小休", "培训", "会议", "就餐"} }

// Reasons are the configured not-ready reasons, or the defaults.
func (s IVR) Reasons() []string {
	if len(s.PauseReasons) == 0 {
		return DefaultPauseReasons()
	}
	return s.PauseReasons
}

// Line is one hotline number on the trunk.
type Line struct {
	Number  string `yaml:"number"`
	Hotline string `yaml:"hotline"`
	// Channels is how many calls the number takes at once; one more caller hears that
	// all lines are busy and may leave a voice message.
	Channels int `yaml:"channels"`
}

// Modes of a hotline: a menu before the queue, or straight to a person as GB/T 33358
// advises for phone intake.
const (
	ModeMenu   = "menu"
	ModeDirect = "direct"
)

// Hotline is a service the city runs on one or more numbers.
type Hotline struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	Mode string `yaml:"mode"`
	// Welcome is the prompt played on answer (24-hour service, recording consent).
	Welcome string `yaml:"welcome"`
	Menu    string `yaml:"menu"`  // ModeMenu
	Queue   string `yaml:"queue"` // ModeDirect, and where "operator" goes
	// KnownCaller offers the progress of the caller's open ticket before the menu.
	KnownCaller bool `yaml:"known_caller"`
}

// Menu actions.
const (
	ActionQueue     = "queue"
	ActionStatus    = "status"
	ActionVoicemail = "voicemail"
	ActionRepeat    = "repeat"
)

// Menu is a keypad menu.
type Menu struct {
	Name    string `yaml:"name"`
	Prompt  string `yaml:"prompt"`
	Invalid string `yaml:"invalid"` // played after a wrong key or none
	// Tries is how often the menu is played before the caller goes to Fallback.
	Tries   int           `yaml:"tries"`
	Timeout time.Duration `yaml:"timeout"` // wait for a key after the prompt
	Options []MenuOption  `yaml:"options"`
	// Fallback is where a caller goes who pressed nothing useful Tries times.
	Fallback MenuOption `yaml:"fallback"`
}

// MenuOption is one key of a menu.
type MenuOption struct {
	Key    string `yaml:"key"`
	Action string `yaml:"action"`
	Queue  string `yaml:"queue"`
	// Topic is kept on the call record (complaint, consultation) for the operator.
	Topic string `yaml:"topic"`
}

// Queue strategies.
const (
	StrategyLongestIdle = "longest_idle"
	StrategyRingAll     = "ring_all"
)

// Queue is where callers wait for an operator with a skill.
type Queue struct {
	Name     string `yaml:"name"`
	Skill    string `yaml:"skill"`
	Strategy string `yaml:"strategy"`
	// RingTimeout: an operator who does not answer in time is paused and the next rung.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	WrapUp      time.Duration `yaml:"wrap_up"`
	// MaxWait: a caller waiting longer is offered the voice message.
	MaxWait time.Duration `yaml:"max_wait"`
	// AnnounceEvery: the caller hears position and expected wait this often.
	AnnounceEvery time.Duration `yaml:"announce_every"`
	MusicClass    string        `yaml:"music_class"`
	VoicemailKey  string        `yaml:"voicemail_key"`
	// CallbackKey lets a waiting caller hang up and be called back in turn (virtual
	// hold); empty turns it off.
	CallbackKey string `yaml:"callback_key"`
	// CallbackAttempts is how many times a citizen is called back before the request
	// becomes a ticket (回拨未接通), CallbackRetry apart; CallbackRing is how long each
	// try rings the citizen (0: 30s).
	CallbackAttempts int           `yaml:"callback_attempts"`
	CallbackRetry    time.Duration `yaml:"callback_retry"`
	CallbackRing     time.Duration `yaml:"callback_ring"`
	// Record the conversation (mixing-bridge recording).
	Record bool `yaml:"record"`
}

// Voicemail configures voice messages.
type Voicemail struct {
	MaxDuration time.Duration `yaml:"max_duration"`
	// Category is the ticket category of a voice message until an operator listens.
	Category string `yaml:"category"`
	Format   string `yaml:"format"`
}

// StatusLookup configures the ticket-progress lookup.
type StatusLookup struct {
	Tries     int           `yaml:"tries"`
	DigitWait time.Duration `yaml:"digit_wait"` // between keys
	MaxDigits int           `yaml:"max_digits"`
}

// DefaultARI is the ARI configuration with no node: the controller stays off.
func DefaultARI() ARI { return ARI{App: "hotline", LeaseTTL: 3 * time.Second} }

// DefaultIVR is the demo city's telephone set-up: the mayor hotline on 12345 with 14
// lines and the government-affairs hotline, each with the standard menu.
func DefaultIVR() IVR {
	queue := func(name, skill string) Queue {
		return Queue{
			Name: name, Skill: skill, Strategy: StrategyLongestIdle,
			RingTimeout: 15 * time.Second, WrapUp: 10 * time.Second, MaxWait: 120 * time.Second,
			AnnounceEvery: 30 * time.Second, MusicClass: "default", VoicemailKey: "9",
			CallbackKey: "8", CallbackAttempts: 3, CallbackRetry: 2 * time.Minute, CallbackRing: 30 * time.Second, Record: true,
		}
	}
	return IVR{
		Lines: []Line{
			{Number: "12345", Hotline: "mayor", Channels: 14},
			{Number: "8393000", Hotline: "government", Channels: 4},
		},
		Hotlines: []Hotline{
			{Code: "mayor", Name: "市长热线", Mode: ModeMenu, Welcome: "welcome-mayor", Menu: "main", Queue: "general", KnownCaller: true},
			{Code: "government", Name: "政务服务热线", Mode: ModeMenu, Welcome: "welcome-government", Menu: "main", Queue: "general", KnownCaller: true},
		},
		Menus: []Menu{{
			Name: "main", Prompt: "menu-main", Invalid: "menu-invalid", Tries: 3, Timeout: 5 * time.Second,
			Options: []MenuOption{
				{Key: "1", Action: ActionQueue, Queue: "complaint", Topic: "complaint"},
				{Key: "2", Action: ActionQueue, Queue: "consultation", Topic: "consultation"},
				{Key: "3", Action: ActionStatus},
				{Key: "0", Action: ActionQueue, Queue: "general"},
				{Key: "*", Action: ActionRepeat},
			},
			Fallback: MenuOption{Action: ActionQueue, Queue: "general"},
		}},
		Queues: []Queue{
			queue("general", ""),
			queue("complaint", "complaint"),
			queue("consultation", "consultation"),
		},
		Prompts:         DefaultPrompts(),
		PromptDir:       "rexian",
		Language:        "zh",
		Voicemail:       Voicemail{MaxDuration: 120 * time.Second, Category: "QZ", Format: "wav"},
		Status:          StatusLookup{Tries: 3, DigitWait: 6 * time.Second, MaxDigits: 16},
		Trunk:           "Local/{number}@rexian-outbound",
		OutboundReserve: 2,
		Emergency: []string{
			"110=Local/110@rexian-outbound",
			"119=Local/119@rexian-outbound",
			"120=Local/120@rexian-outbound",
		},
		AnswerTarget: 15 * time.Second,
	}
}

// DefaultPrompts are the Mandarin prompt texts. Names are what the controller plays;
// texts are what `rexian prompts` turns into audio. The welcome is short (under 4 s as
// espeak-ng speaks it): a caller should reach a person, not a speech; and every prompt of
// the welcome and the menu stops at the first key.
func DefaultPrompts() map[string]string {
	return map[string]string{
		"welcome-mayor":       "您好，市长热线，全程录音。",
		"welcome-government":  "您好，政务热线，全程录音。",
		"menu-main":           "反映问题或投诉，请按1；政策和办事咨询，请按2；查询工单办理进度，请按3；人工服务，请按0；重听，请按星号键。",
		"menu-invalid":        "您的输入有误。",
		"queue-enter":         "正在为您转接，请稍候。",
		"queue-position":      "您前面还有",
		"queue-position-unit": "位来电者。",
		"queue-wait":          "预计等待",
		"queue-wait-unit":     "分钟。",
		"queue-options":       "如需留言，请按9；如需挂机等待回电，请按8。",
		"queue-callback-ok":   "好的，轮到您时我们将回拨您的电话，您现在可以挂机了。",
		"queue-callback-no":   "抱歉，您的号码无法回拨。",
		"callback-hello":      "您好，这里是市民热线，您之前的来电已轮到，正在为您接通话务员。",
		"all-busy":            "您好，目前所有线路都忙。",
		"no-agent":            "抱歉，目前没有话务员可以接听。",
		"voicemail-intro":     "请在提示音后留言，说明您反映的问题、地点和联系方式，按井号键结束。",
		"voicemail-thanks":    "您的留言已记录，工单编号是",
		"voicemail-sms":       "工单编号将以短信发送到您的手机。",
		"voicemail-empty":     "没有录到您的留言。",
		"goodbye":             "感谢您的来电，再见。",
		"status-ask":          "请输入工单编号，以井号键结束。",
		"status-wrong":        "工单编号有误，请重新输入。",
		"status-not-found":    "没有找到这个工单。",
		"status-number":       "工单",
		"status-registered":   "已受理，正在等待派发。",
		"status-dispatched":   "已派发至承办单位。",
		"status-handling":     "正在办理中。",
		"status-replied":      "承办单位已答复，正在审核。",
		"status-returned":     "正在重新派发。",
		"status-completed":    "已办结。",
		"status-refused":      "不予受理。",
		"status-merged":       "已与其他工单合并办理。",
		"status-department":   "承办单位是",
		"status-due":          "办理期限是",
		"status-month":        "月",
		"status-day":          "日",
		"status-repeat":       "重听请按1，返回主菜单请按0。",
		"known-caller":        "您有一件正在办理的工单，查询进度请按1，其他服务请按2。",
		"transfer-emergency":  "正在为您转接紧急求助电话，请不要挂机。",
		"error-try-later":     "抱歉，系统暂时无法处理您的请求，请稍后再拨。",
		"survey-hello":        "您好，这里是市民热线。您之前反映的问题已经办结，现在对办理结果做个简短回访。",
		"survey-question":     "对您反映问题的办理结果，满意请按1，基本满意请按2，不满意请按3。",
		"survey-reason":       "请在提示音后说明不满意的原因，按井号键结束。",
		"survey-thanks":       "感谢您的评价，再见。",
		"survey-invalid":      "您的输入有误。",
	}
}

var dialStringRE = regexp.MustCompile(`^[A-Za-z0-9]+/\S+$`)

// Validate reports every problem, each naming its key under prefix (ivr.).
func (s IVR) Validate(prefix string) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, path, fmt.Sprintf(format, args...)))
	}
	hotlines := map[string]bool{}
	for i, h := range s.Hotlines {
		switch {
		case h.Code == "":
			bad(fmt.Sprintf("hotlines[%d].code", i), "must not be empty")
		case hotlines[h.Code]:
			bad(fmt.Sprintf("hotlines[%d].code", i), "%q is listed twice", h.Code)
		}
		hotlines[h.Code] = true
	}
	menus := map[string]Menu{}
	for _, m := range s.Menus {
		menus[m.Name] = m
	}
	queues := map[string]bool{}
	for i, q := range s.Queues {
		p := fmt.Sprintf("queues[%d]", i)
		if q.Name == "" || queues[q.Name] {
			bad(p+".name", "%q is empty or listed twice", q.Name)
		}
		queues[q.Name] = true
		if !slices.Contains([]string{StrategyLongestIdle, StrategyRingAll}, q.Strategy) {
			bad(p+".strategy", "%q is not one of %s, %s", q.Strategy, StrategyLongestIdle, StrategyRingAll)
		}
		if q.RingTimeout < time.Second {
			bad(p+".ring_timeout", "must be at least 1s, not %s", q.RingTimeout)
		}
		if q.MaxWait < time.Second {
			bad(p+".max_wait", "must be at least 1s, not %s", q.MaxWait)
		}
		if q.AnnounceEvery < 0 || q.WrapUp < 0 {
			bad(p, "announce_every and wrap_up must not be negative")
		}
		if q.CallbackKey != "" && (q.CallbackAttempts < 1 || q.CallbackAttempts > 10) {
			bad(p+".callback_attempts", "must be between 1 and 10, not %d", q.CallbackAttempts)
		}
		if q.CallbackRetry < 0 || q.CallbackRing < 0 || q.CallbackRing > 5*time.Minute {
			bad(p, "callback_retry must not be negative and callback_ring must be at most 5m")
		}
		for _, k := range []string{q.VoicemailKey, q.CallbackKey} {
			if k != "" && !isKey(k) {
				bad(p, "%q is not a keypad key (0-9, *, #)", k)
			}
		}
	}
	if len(s.Lines) == 0 {
		bad("lines", "must list at least one number")
	}
	if s.OutboundReserve < 0 {
		bad("outbound_reserve", "must not be negative, not %d", s.OutboundReserve)
	}
	numbers := map[string]bool{}
	for i, l := range s.Lines {
		p := fmt.Sprintf("lines[%d]", i)
		if l.Number == "" || numbers[l.Number] {
			bad(p+".number", "%q is empty or listed twice", l.Number)
		}
		numbers[l.Number] = true
		if !hotlines[l.Hotline] {
			bad(p+".hotline", "%q is not a hotline code listed under hotlines", l.Hotline)
		}
		if l.Channels < 1 {
			bad(p+".channels", "must be at least 1, not %d", l.Channels)
		}
	}
	for i, h := range s.Hotlines {
		p := fmt.Sprintf("hotlines[%d]", i)
		switch h.Mode {
		case ModeMenu:
			if _, ok := menus[h.Menu]; !ok {
				bad(p+".menu", "%q is not a menu listed under menus", h.Menu)
			}
		case ModeDirect:
		default:
			bad(p+".mode", "%q is not one of %s, %s", h.Mode, ModeMenu, ModeDirect)
		}
		if !queues[h.Queue] {
			bad(p+".queue", "%q is not a queue listed under queues", h.Queue)
		}
		s.checkPrompt(bad, p+".welcome", h.Welcome)
	}
	for i, m := range s.Menus {
		p := fmt.Sprintf("menus[%d]", i)
		s.checkPrompt(bad, p+".prompt", m.Prompt)
		if m.Tries < 1 {
			bad(p+".tries", "must be at least 1, not %d", m.Tries)
		}
		if m.Timeout < time.Second {
			bad(p+".timeout", "must be at least 1s, not %s", m.Timeout)
		}
		keys := map[string]bool{}
		for j, o := range append(slices.Clone(m.Options), m.Fallback) {
			op := fmt.Sprintf("%s.options[%d]", p, j)
			if j == len(m.Options) {
				op = p + ".fallback"
			} else if !isKey(o.Key) || keys[o.Key] {
				bad(op+".key", "%q is not a keypad key or is listed twice", o.Key)
			}
			keys[o.Key] = true
			switch o.Action {
			case ActionQueue:
				if !queues[o.Queue] {
					bad(op+".queue", "%q is not a queue listed under queues", o.Queue)
				}
			case ActionStatus, ActionVoicemail:
			case ActionRepeat:
				if j == len(m.Options) {
					bad(op+".action", "the fallback cannot be repeat")
				}
			default:
				bad(op+".action", "%q is not one of queue, status, voicemail, repeat", o.Action)
			}
		}
	}
	for name := range s.Prompts {
		if !promptName.MatchString(name) {
			bad("prompts", "%q is not a prompt name (lower-case letters, digits and -)", name)
		}
	}
	if s.Voicemail.MaxDuration < time.Second {
		bad("voicemail.max_duration", "must be at least 1s, not %s", s.Voicemail.MaxDuration)
	}
	if s.Voicemail.Category == "" {
		bad("voicemail.category", "must name the category of voice-message tickets")
	}
	if s.Status.Tries < 1 || s.Status.MaxDigits < 8 {
		bad("status", "tries must be at least 1 and max_digits at least 8")
	}
	if s.Trunk != "" && (!strings.Contains(s.Trunk, "{number}") || !dialStringRE.MatchString(s.Trunk)) {
		bad("trunk", "%q is not a dial string with {number} (e.g. PJSIP/{number}@trunk)", s.Trunk)
	}
	for _, e := range s.Emergency {
		if _, _, err := ParseNamedDial(e); err != nil {
			bad("emergency", "%v", err)
		}
	}
	for _, o := range s.Operators {
		if _, _, err := ParseNamedDial(o); err != nil {
			bad("operators", "%v", err)
		}
	}
	if s.AnswerTarget <= 0 {
		bad("answer_target", "must be more than 0")
	}
	seen := map[string]bool{}
	for i, r := range s.PauseReasons {
		if strings.TrimSpace(r) != r || r == "" || len(r) > 32 || seen[r] {
			bad(fmt.Sprintf("pause_reasons[%d]", i), "%q is empty, padded, longer than 32 bytes or listed twice", r)
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

var promptName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func (s IVR) checkPrompt(bad func(path, format string, args ...any), path, name string) {
	if name == "" {
		return
	}
	if _, ok := s.Prompts[name]; !ok {
		bad(path, "prompt %q has no text under prompts", name)
	}
}

func isKey(k string) bool { return len(k) == 1 && strings.Contains("0123456789*#", k) }

// ParseNamedDial splits "name=Tech/resource" (110=Local/110@rexian-outbound).
func ParseNamedDial(s string) (name, dial string, err error) {
	name, dial, ok := strings.Cut(s, "=")
	name, dial = strings.TrimSpace(name), strings.TrimSpace(dial)
	if !ok || name == "" || !ValidDialString(dial) {
		return "", "", fmt.Errorf("%q is not name=dial string (e.g. 110=Local/110@rexian-outbound)", s)
	}
	return name, dial, nil
}

// ValidDialString reports whether s looks like an Asterisk dial string (Tech/resource).
func ValidDialString(s string) bool { return dialStringRE.MatchString(s) }

// Validate checks the ARI settings.
func (a ARI) Validate() error {
	var errs []error
	for _, raw := range a.URL {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ari.url: %q is not http(s)://host:port (e.g. http://127.0.0.1:8088)", raw))
		}
	}
	if a.App == "" {
		errs = append(errs, errors.New("ari.app: must not be empty"))
	}
	if a.SoftphoneWS != "" {
		u, err := url.Parse(a.SoftphoneWS)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ari.softphone_ws: %q is not ws(s)://host:port/ws (e.g. wss://pbx.example:8089/ws)", a.SoftphoneWS))
		}
	}
	if a.LeaseTTL < time.Second || a.LeaseTTL > time.Minute {
		errs = append(errs, fmt.Errorf("ari.lease_ttl: must be between 1s and 1m, not %s", a.LeaseTTL))
	}
	return errors.Join(errs...)
}
