package prompt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ManifestFile is the manifest's name inside the output folder. It starts with a dot so
// that copying the prompts with a *.wav glob leaves it behind.
const ManifestFile = ".prompts.json"

// recipeVersion changes whenever the way audio is produced changes (sox arguments, sample
// rate), so that every prompt is rendered again with the new recipe.
const recipeVersion = 1

// manifest remembers, per prompt, what its files say and how they were made.
type manifest struct {
	Version int                      `json:"version"`
	Prompts map[string]manifestEntry `json:"prompts"`
}

type manifestEntry struct {
	Hash string `json:"hash"`
	// Text is kept for people who wonder what a file says without playing it.
	Text       string    `json:"text"`
	Files      []string  `json:"files"`
	RenderedAt time.Time `json:"rendered_at"`
}

// promptHash identifies one rendering: the text and every setting that changes the audio.
func promptHash(text string, o Options) string {
	h := sha256.New()
	for _, part := range []string{
		"recipe=" + strconv.Itoa(recipeVersion),
		"voice=" + o.Voice,
		"speed=" + strconv.Itoa(o.Speed),
		"volume=" + strconv.FormatFloat(o.Volume, 'g', -1, 64),
		"formats=" + strings.Join(formatNames(o.Formats), ","),
		"text=" + text,
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// loadManifest reads the manifest in dir. A missing file is an empty manifest; so is an
// unreadable one (reported through the error, which callers log): at worst every prompt
// is rendered again, which is slow but right.
func loadManifest(dir string) (manifest, error) {
	m := manifest{Version: recipeVersion, Prompts: map[string]manifestEntry{}}
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read prompt manifest: %w", err)
	}
	var got manifest
	if err := json.Unmarshal(data, &got); err != nil {
		return m, fmt.Errorf("prompt manifest %s is damaged, rendering everything again: %w", ManifestFile, err)
	}
	for name, e := range got.Prompts {
		m.Prompts[name] = e
	}
	return m, nil
}

// save writes the manifest atomically, so that a crash leaves the old one or the new one.
func (m manifest) save(dir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode prompt manifest: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ManifestFile+".*")
	if err != nil {
		return fmt.Errorf("write prompt manifest: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write prompt manifest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write prompt manifest: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write prompt manifest: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ManifestFile)); err != nil {
		return fmt.Errorf("write prompt manifest: %w", err)
	}
	return nil
}

// upToDate reports whether name's files in dir say text as o renders it: the manifest
// has the same hash and every file is there and holds more than a header. A file deleted
// or truncated by hand is rendered again even though the manifest says otherwise.
func (m manifest) upToDate(dir, name, hash string, formats []Format) bool {
	e, ok := m.Prompts[name]
	if !ok || e.Hash != hash {
		return false
	}
	for _, f := range formats {
		info, err := os.Stat(filepath.Join(dir, f.file(name)))
		if err != nil || !info.Mode().IsRegular() || info.Size() <= f.headerSize() {
			return false
		}
	}
	return true
}
