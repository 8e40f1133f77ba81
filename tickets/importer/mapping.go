package importer

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/tickets"
)

// Field is what a column holds, in the importer's words.
type Field string

// The fields a file's columns map to.
const (
	FieldRef          Field = "ref"
	FieldPhone        Field = "phone"
	FieldName         Field = "name"
	FieldEmail        Field = "email"
	FieldTitle        Field = "title"
	FieldContent      Field = "content"
	FieldCategory     Field = "category"
	FieldUrgency      Field = "urgency"
	FieldChannel      Field = "channel"
	FieldDistrict     Field = "district"
	FieldTownship     Field = "township"
	FieldAddress      Field = "address"
	FieldDepartment   Field = "department"
	FieldStatus       Field = "status"
	FieldOperator     Field = "operator"
	FieldRegisteredAt Field = "registered_at"
	FieldDispatchedAt Field = "dispatched_at"
	FieldSignedAt     Field = "signed_at"
	FieldRepliedAt    Field = "replied_at"
	FieldCompletedAt  Field = "completed_at"
	FieldDueAt        Field = "due_at"
	FieldReply        Field = "reply"
	FieldAnswer       Field = "answer"
	FieldSatisfaction Field = "satisfaction"
	FieldSurveyedAt   Field = "surveyed_at"
)

// defaultHeaders are the column headers each field is found under when the mapping does
// not name one: the words the hotline platforms in use print in their exports, then the
// field's own name. The first header present wins.
var defaultHeaders = []struct {
	field   Field
	headers []string
}{
	{FieldRef, []string{"工单编号", "工单号", "编号", "流水号", "受理编号"}},
	{FieldPhone, []string{"来电号码", "联系电话", "电话号码", "手机号码", "电话"}},
	{FieldName, []string{"姓名", "来电人", "诉求人", "联系人", "市民姓名"}},
	{FieldEmail, []string{"电子邮箱", "邮箱"}},
	{FieldTitle, []string{"标题", "诉求标题", "工单标题"}},
	{FieldContent, []string{"诉求内容", "来电内容", "内容", "问题描述", "反映内容"}},
	{FieldCategory, []string{"诉求类别", "问题分类", "类别", "分类", "业务类别", "诉求类型"}},
	{FieldUrgency, []string{"紧急程度", "缓急程度"}},
	{FieldChannel, []string{"来源渠道", "受理渠道", "来源", "渠道"}},
	{FieldDistrict, []string{"所属旗区", "旗区", "所属区域", "区县"}},
	{FieldTownship, []string{"苏木镇街道", "街道", "乡镇街道", "苏木镇"}},
	{FieldAddress, []string{"事发地址", "地址", "详细地址"}},
	{FieldDepartment, []string{"承办单位", "主办单位", "办理单位", "责任单位"}},
	{FieldStatus, []string{"状态", "工单状态", "办理状态"}},
	{FieldOperator, []string{"受理人", "话务员", "受理坐席"}},
	{FieldRegisteredAt, []string{"受理时间", "来电时间", "登记时间", "创建时间"}},
	{FieldDispatchedAt, []string{"派单时间", "交办时间"}},
	{FieldSignedAt, []string{"签收时间"}},
	{FieldRepliedAt, []string{"回复时间", "反馈时间"}},
	{FieldCompletedAt, []string{"办结时间", "结案时间"}},
	{FieldDueAt, []string{"办理时限", "办结时限", "截止时间"}},
	{FieldReply, []string{"回复内容", "承办单位回复", "反馈内容"}},
	{FieldAnswer, []string{"办理结果", "答复内容", "处理结果"}},
	{FieldSatisfaction, []string{"满意度", "回访结果", "满意度评价"}},
	{FieldSurveyedAt, []string{"回访时间"}},
}

// requiredFields must have a column.
var requiredFields = []Field{FieldRef, FieldContent, FieldCategory, FieldRegisteredAt, FieldStatus}

// Fields lists every field, in the order of the default headers.
func Fields() []Field {
	out := make([]Field, len(defaultHeaders))
	for i, d := range defaultHeaders {
		out[i] = d.field
	}
	return out
}

func knownField(f Field) bool {
	for _, d := range defaultHeaders {
		if d.field == f {
			return true
		}
	}
	return false
}

// Mapping says how a file's columns and words become tickets. Every part is optional:
// the zero Mapping reads the usual Chinese headers and words.
type Mapping struct {
	// Source names the previous platform: references are unique per source, so a re-run
	// with the same source skips what was imported.
	Source string `yaml:"source"`
	// Sheet is the worksheet of an .xlsx file; empty reads the first.
	Sheet string `yaml:"sheet"`
	// Encoding of a CSV file: auto (UTF-8, else GB18030), utf-8 or gb18030.
	Encoding string `yaml:"encoding"`
	// Columns maps a field (ref, content, registered_at …) to its column's header.
	Columns map[Field]string `yaml:"columns"`
	// Departments and Categories map names in the file to codes (or to the names used
	// here); a name not mapped is looked up as a code, then as a name.
	Departments map[string]string `yaml:"departments"`
	Categories  map[string]string `yaml:"categories"`
	// Statuses, Channels, Urgencies and Satisfaction map the file's words to this
	// platform's (registered, dispatched, handling, replied, completed; phone, mailbox …;
	// normal, urgent, critical; satisfied, fairly_satisfied, dissatisfied, none). They add
	// to the usual words, which they may override.
	Statuses     map[string]string `yaml:"statuses"`
	Channels     map[string]string `yaml:"channels"`
	Urgencies    map[string]string `yaml:"urgencies"`
	Satisfaction map[string]string `yaml:"satisfaction"`
	// TimeLayouts are Go time layouts tried before the usual ones.
	TimeLayouts []string `yaml:"time_layouts"`
}

// ReadMapping reads a mapping file (YAML); unknown keys are refused, so a typo is not
// silently ignored.
func ReadMapping(path string) (Mapping, error) {
	var m Mapping
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("mapping: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, m.check()
}

// check refuses a mapping naming unknown fields or words.
func (m Mapping) check() error {
	var bad []string
	for f := range m.Columns {
		if !knownField(f) {
			bad = append(bad, fmt.Sprintf("unknown field %q in columns (one of %v)", f, Fields()))
		}
	}
	statuses := map[string]bool{}
	for _, s := range tickets.ImportStatuses {
		statuses[string(s)] = true
	}
	for k, v := range m.Statuses {
		if !statuses[v] {
			bad = append(bad, fmt.Sprintf("statuses: %q maps to %q, not one of %v", k, v, tickets.ImportStatuses))
		}
	}
	for k, v := range m.Channels {
		if !tickets.Channel(v).Valid() {
			bad = append(bad, fmt.Sprintf("channels: %q maps to unknown channel %q", k, v))
		}
	}
	for k, v := range m.Urgencies {
		if !tickets.Urgency(v).Valid() {
			bad = append(bad, fmt.Sprintf("urgencies: %q maps to unknown urgency %q", k, v))
		}
	}
	for k, v := range m.Satisfaction {
		if _, ok := satisfactionResults[v]; !ok {
			bad = append(bad, fmt.Sprintf("satisfaction: %q maps to %q, not one of satisfied, fairly_satisfied, dissatisfied, none", k, v))
		}
	}
	switch strings.ToLower(m.Encoding) {
	case "", "auto", "utf-8", "utf8", "gb18030", "gbk", "gb2312":
	default:
		bad = append(bad, fmt.Sprintf("encoding %q: one of auto, utf-8, gb18030", m.Encoding))
	}
	if len(m.Source) > 64 {
		bad = append(bad, "source is longer than 64 characters")
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("mapping: %s", strings.Join(bad, "; "))
	}
	return nil
}

var satisfactionResults = map[string]callback.Result{
	"satisfied": callback.ResultSatisfied, "fairly_satisfied": callback.ResultFairlySatisfied,
	"dissatisfied": callback.ResultDissatisfied, "none": callback.ResultNone,
}

// The usual words of the old platforms' exports.
var (
	defaultStatuses = map[string]tickets.Status{
		"已受理": tickets.StatusRegistered, "待派单": tickets.StatusRegistered, "待处理": tickets.StatusRegistered, "未派单": tickets.StatusRegistered,
		"已派单": tickets.StatusDispatched, "待签收": tickets.StatusDispatched, "已交办": tickets.StatusDispatched,
		"办理中": tickets.StatusHandling, "处理中": tickets.StatusHandling, "已签收": tickets.StatusHandling, "在办": tickets.StatusHandling,
		"已回复": tickets.StatusReplied, "待审核": tickets.StatusReplied, "已反馈": tickets.StatusReplied,
		"已办结": tickets.StatusCompleted, "办结": tickets.StatusCompleted, "已完成": tickets.StatusCompleted,
		"完成": tickets.StatusCompleted, "已结案": tickets.StatusCompleted, "结案": tickets.StatusCompleted,
	}
	defaultChannels = map[string]tickets.Channel{
		"电话": tickets.ChannelPhone, "来电": tickets.ChannelPhone, "热线": tickets.ChannelPhone, "热线电话": tickets.ChannelPhone,
		"语音留言": tickets.ChannelVoicemail, "留言": tickets.ChannelVoicemail,
		"市长信箱": tickets.ChannelMailbox, "信箱": tickets.ChannelMailbox, "邮件": tickets.ChannelMailbox, "电子邮件": tickets.ChannelMailbox,
		"qq": tickets.ChannelQQ, "网站": tickets.ChannelWeb, "网上": tickets.ChannelWeb, "网络": tickets.ChannelWeb, "网上诉求": tickets.ChannelWeb,
		"短信": tickets.ChannelSMS, "来访": tickets.ChannelWalkIn, "走访": tickets.ChannelWalkIn,
	}
	defaultUrgencies = map[string]tickets.Urgency{
		"一般": tickets.UrgencyNormal, "普通": tickets.UrgencyNormal, "紧急": tickets.UrgencyUrgent, "加急": tickets.UrgencyUrgent,
		"特急": tickets.UrgencyCritical, "特别紧急": tickets.UrgencyCritical,
	}
	defaultSatisfaction = map[string]callback.Result{
		"满意": callback.ResultSatisfied, "非常满意": callback.ResultSatisfied,
		"基本满意": callback.ResultFairlySatisfied, "比较满意": callback.ResultFairlySatisfied,
		"不满意": callback.ResultDissatisfied, "很不满意": callback.ResultDissatisfied, "非常不满意": callback.ResultDissatisfied,
		"未回访": callback.ResultNone, "未评价": callback.ResultNone, "无": callback.ResultNone, "-": callback.ResultNone,
	}
)

// words is a lookup of a file's words: the mapping's first, then the usual ones, then
// this platform's own names; matched after trimming spaces and ignoring case.
type words[T ~string] map[string]T

func newWords[T ~string](usual map[string]T, own []T, mapped map[string]string) words[T] {
	w := words[T]{}
	for _, o := range own {
		w[strings.ToLower(string(o))] = o
	}
	for k, v := range usual {
		w[strings.ToLower(k)] = v
	}
	for k, v := range mapped {
		w[strings.ToLower(strings.TrimSpace(k))] = T(v)
	}
	return w
}

func (w words[T]) lookup(s string) (T, bool) {
	v, ok := w[strings.ToLower(strings.TrimSpace(s))]
	return v, ok
}

// names maps a file's department or category names to this platform's.
type names map[string]string

func (n names) of(s string) string {
	s = strings.TrimSpace(s)
	if v, ok := n[s]; ok {
		return v
	}
	return s
}
