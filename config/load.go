package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Source is everything Load reads, so that tests can pass their own environment.
type Source struct {
	// File is the YAML file to read; empty for none.
	File string
	// Environ is the environment as KEY=VALUE lines (os.Environ()).
	Environ []string
	// Flags are values given on the command line, applied last.
	Flags []Setting
}

// Setting is one value for a key, with where it came from for error messages.
type Setting struct {
	Path   string // YAML path of the key: "log.level"
	Value  string
	Origin string // e.g. "--log-level"
}

// Load builds the effective configuration: defaults, then the YAML file, then the
// environment, then flags; then the defaults that depend on other keys; then Validate.
func Load(src Source) (Config, error) {
	cfg := Default()
	keys := Keys()
	if src.File != "" {
		if err := applyFile(&cfg, keys, src.File); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, keys, src.Environ); err != nil {
		return Config{}, err
	}
	for _, s := range src.Flags {
		k, ok := findKey(keys, s.Path)
		if !ok {
			return Config{}, fmt.Errorf("%s: no configuration key %q", s.Origin, s.Path)
		}
		if err := k.set(reflect.ValueOf(&cfg).Elem(), s.Value); err != nil {
			return Config{}, fmt.Errorf("%s: %w", s.Origin, err)
		}
	}
	cfg.fillDerived()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func applyEnv(cfg *Config, keys []Key, environ []string) error {
	root := reflect.ValueOf(cfg).Elem()
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok {
			env[name] = value
		}
	}
	var errs []error
	for _, k := range keys {
		raw, ok := env[k.Env]
		if !ok {
			continue
		}
		if err := k.set(root, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.Env, err))
		}
	}
	return errors.Join(errs...)
}

// UnknownEnv lists the REXIAN_* variables in environ that name no key, so that main can
// warn about a typo that would otherwise be silently ignored. REXIAN_TEST_* belongs to the
// test suite and is left out.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{}
	for _, k := range Keys() {
		known[k.Env] = true
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !strings.HasPrefix(name, EnvPrefix+"TEST_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// applyFile reads the YAML file at path over cfg. Each value is parsed exactly as its
// environment variable would be, so the two sources never disagree on a format; an
// unknown key is an error naming its full path, and an empty value (`key:` or `key: ~`)
// leaves the key as it was.
func applyFile(cfg *Config, keys []Key, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file, or comments only
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil
	}
	var errs []error
	walkFile(reflect.ValueOf(cfg).Elem(), keys, root, "", func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config file %s, line %d: %s", path, line, fmt.Sprintf(format, args...)))
	})
	return errors.Join(errs...)
}

type reportFunc func(line int, format string, args ...any)

func walkFile(cfg reflect.Value, keys []Key, n *yaml.Node, prefix string, report reportFunc) {
	if n.Kind != yaml.MappingNode {
		where := "the top level"
		if prefix != "" {
			where = strings.TrimSuffix(prefix, ".")
		}
		report(n.Line, "%s must be a mapping of keys to values", where)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, value := n.Content[i], n.Content[i+1]
		path := prefix + name.Value
		if isNull(value) {
			continue
		}
		if k, ok := findKey(keys, path); ok {
			setFromNode(cfg, k, value, report)
			continue
		}
		if isSection(keys, path) {
			walkFile(cfg, keys, value, path+".", report)
			continue
		}
		report(name.Line, "unknown key %q%s", path, suggest(keys, path))
	}
}

func setFromNode(cfg reflect.Value, k Key, n *yaml.Node, report reportFunc) {
	if k.structured() {
		doc, err := yaml.Marshal(n)
		if err == nil {
			err = k.setYAML(cfg, doc)
		}
		if err != nil {
			report(n.Line, "%s: %v", k.Path, err)
		}
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if err := k.set(cfg, n.Value); err != nil {
			report(n.Line, "%s: %v", k.Path, err)
		}
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				report(item.Line, "%s: list items must be plain values", k.Path)
				return
			}
			items = append(items, item.Value)
		}
		if err := k.setList(cfg, items); err != nil {
			report(n.Line, "%s: %v", k.Path, err)
		}
	default:
		report(n.Line, "%s: want %s, not a mapping", k.Path, k.Type)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// isSection reports whether path is a section holding keys ("tickets").
func isSection(keys []Key, path string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k.Path, path+".") {
			return true
		}
	}
	return false
}

// suggest names the key the user probably meant: same section, same last word, or the
// same word in another section.
func suggest(keys []Key, path string) string {
	last := path[strings.LastIndex(path, ".")+1:]
	for _, k := range keys {
		kLast := k.Path[strings.LastIndex(k.Path, ".")+1:]
		if kLast == last || strings.ReplaceAll(kLast, "_", "") == strings.ReplaceAll(last, "_", "") {
			return fmt.Sprintf(" (did you mean %q?)", k.Path)
		}
	}
	return ""
}

// YAML renders c as a configuration file that Load reads back. Print c.Masked() unless
// the secrets are meant to be seen.
func (c Config) YAML() ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return []byte(b.String()), nil
}
