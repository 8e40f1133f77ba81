package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/syslog"
	"os"
	"sync"
)

// line is a record as a SIEM reads it: one JSON object, the same fields as the API.
func line(r *Record) ([]byte, error) {
	b, err := json.Marshal(struct {
		Source string `json:"source"`
		*Record
	}{"rexian.audit", r})
	if err != nil {
		return nil, fmt.Errorf("encode audit record %d: %w", r.Seq, err)
	}
	return b, nil
}

// FileShipper appends each record as a JSON line to a file (for a log collector to tail).
type FileShipper struct {
	mu sync.Mutex
	f  *os.File
}

// NewFileShipper opens path for appending, creating it readable by its owner only.
func NewFileShipper(path string) (*FileShipper, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit file %s: %w", path, err)
	}
	return &FileShipper{f: f}, nil
}

// Ship writes r as one line.
func (s *FileShipper) Ship(_ context.Context, r *Record) error {
	b, err := line(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// One write call per line: with O_APPEND, lines of two processes never interleave.
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *FileShipper) Close() error { return s.f.Close() }

// SyslogShipper sends each record as a JSON message to syslog (facility authpriv,
// severity info), over udp, tcp or unix, or to the local daemon when network is "".
type SyslogShipper struct {
	w *syslog.Writer
}

// NewSyslogShipper connects to a syslog server. The writer reconnects by itself after a
// failed write.
func NewSyslogShipper(network, address, tag string) (*SyslogShipper, error) {
	if tag == "" {
		tag = "rexian-audit"
	}
	w, err := syslog.Dial(network, address, syslog.LOG_AUTHPRIV|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, fmt.Errorf("audit syslog %s %s: %w", network, address, err)
	}
	return &SyslogShipper{w: w}, nil
}

// Ship sends r as one message.
func (s *SyslogShipper) Ship(_ context.Context, r *Record) error {
	b, err := line(r)
	if err != nil {
		return err
	}
	if err := s.w.Info(string(b)); err != nil {
		return fmt.Errorf("audit syslog: %w", err)
	}
	return nil
}

// Close closes the connection.
func (s *SyslogShipper) Close() error { return s.w.Close() }
