package qq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Event is a OneBot v11 event: a message, a notice, a request or a meta event
// (heartbeat, lifecycle). Only the fields this channel reads are kept.
type Event struct {
	Time          int64   `json:"time"`
	SelfID        ID      `json:"self_id"`
	PostType      string  `json:"post_type"` // message, notice, request, meta_event
	MessageType   string  `json:"message_type,omitempty"`
	SubType       string  `json:"sub_type,omitempty"`
	MessageID     ID      `json:"message_id,omitempty"`
	UserID        ID      `json:"user_id,omitempty"`
	GroupID       ID      `json:"group_id,omitempty"`
	Message       Message `json:"message,omitempty"`
	RawMessage    string  `json:"raw_message,omitempty"`
	Sender        Author  `json:"sender"`
	MetaEventType string  `json:"meta_event_type,omitempty"`
}

// Author is who sent a message, as the implementation knows them.
type Author struct {
	UserID   ID     `json:"user_id,omitempty"`
	Nickname string `json:"nickname,omitempty"`
	Card     string `json:"card,omitempty"` // the group card (群名片), for group messages
}

// ID is a QQ number or message id. The specification sends numbers; some
// implementations send them as strings, which are accepted too.
type ID int64

// UnmarshalJSON accepts 123 and "123".
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("id %s is not a whole number", string(b))
	}
	*id = ID(n)
	return nil
}

func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// Segment is one part of a message: text, at, image, face, reply, …; data values are
// strings in OneBot v11.
type Segment struct {
	Type string            `json:"type"`
	Data map[string]string `json:"data"`
}

// UnmarshalJSON accepts data values that are strings, numbers or booleans (several
// implementations send at's qq as a number).
func (s *Segment) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type string                     `json:"type"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.Type = raw.Type
	s.Data = make(map[string]string, len(raw.Data))
	for k, v := range raw.Data {
		var str string
		if err := json.Unmarshal(v, &str); err == nil {
			s.Data[k] = str
			continue
		}
		t := string(bytes.TrimSpace(v))
		if t == "null" {
			continue
		}
		if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			return fmt.Errorf("segment %s: data %s is not a plain value", raw.Type, k)
		}
		s.Data[k] = t
	}
	return nil
}

// Message is a message as segments. On the wire it is an array of segments, a single
// segment, or a string in CQ code; all three decode to segments.
type Message []Segment

// UnmarshalJSON decodes the three forms.
func (m *Message) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*m = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*m = ParseCQ(s)
		return nil
	case b[0] == '{':
		var seg Segment
		if err := json.Unmarshal(b, &seg); err != nil {
			return err
		}
		*m = Message{seg}
		return nil
	}
	var segs []Segment
	if err := json.Unmarshal(b, &segs); err != nil {
		return err
	}
	*m = segs
	return nil
}

// maxEventBytes bounds one event; a chat message with a few images is far smaller.
const maxEventBytes = 1 << 20

// DecodeEvent reads one event.
func DecodeEvent(b []byte) (*Event, error) {
	if len(b) > maxEventBytes {
		return nil, errors.New("event is over 1 MiB")
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("decode onebot event: %w", err)
	}
	if ev.PostType == "" {
		return nil, errors.New("decode onebot event: no post_type")
	}
	return &ev, nil
}

// Text is the message's text segments joined, without the at-mentions.
func (m Message) Text() string {
	var b strings.Builder
	for _, s := range m {
		if s.Type == "text" {
			b.WriteString(s.Data["text"])
		}
	}
	return strings.TrimSpace(b.String())
}

// Mentions reports whether the message @-mentions qq.
func (m Message) Mentions(qq ID) bool {
	for _, s := range m {
		if s.Type == "at" && s.Data["qq"] == qq.String() {
			return true
		}
	}
	return false
}

// Images lists the images' addresses: the url when given, else the file when it is one.
func (m Message) Images() []string {
	var out []string
	for _, s := range m {
		if s.Type != "image" {
			continue
		}
		u := s.Data["url"]
		if u == "" {
			u = s.Data["file"]
		}
		out = append(out, u)
	}
	return out
}
