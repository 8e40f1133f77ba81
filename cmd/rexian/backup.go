package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
)

// A backup is one gzipped tar file: the database snapshot (database.sqlite, or
// database.pgdump in pg_dump's custom format), the data folder's files under files/
// (attachments, voice messages, prompts) and the voice-message spool under spool/, then
// manifest.json, last, with each entry's size and SHA-256. The database is snapshotted
// first and the files copied after: files are written before the rows that name them
// are committed and are never changed afterwards, so every file the snapshot names is
// in the archive (a file written later may be too, unreferenced and harmless).

const (
	manifestName   = "manifest.json"
	backupFormat   = 1
	sqliteSnapshot = "database.sqlite"
	pgSnapshot     = "database.pgdump"
)

// manifest describes a backup; restore trusts nothing in the archive it does not list.
type manifest struct {
	Format     int             `json:"format"`
	CreatedAt  time.Time       `json:"created_at"`
	Database   string          `json:"database"`         // sqlite or postgres
	Schema     string          `json:"schema,omitempty"` // PostgreSQL: the schema dumped
	Migrations int             `json:"migrations"`       // applied when the snapshot was taken
	Entries    []manifestEntry `json:"entries"`
}

type manifestEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func (c *cli) backupCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent backup of the database and the data folder while serving",
		Long: `Write a backup while rexian serves: a snapshot of the database (SQLite: VACUUM INTO;
PostgreSQL: pg_dump of the schema in use, which must be on PATH or in
/usr/lib/postgresql/*/bin), the data folder's files (attachments, voice messages) and the
voice-message spool, with a manifest of SHA-256 checksums. The file is written beside
FILE and renamed into place when complete. 'rexian restore FILE' puts it back.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "out"); err != nil {
				return err
			}
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			m, err := writeBackup(cmd.Context(), cfg, log, out)
			if err != nil {
				return err
			}
			var total int64
			for _, e := range m.Entries {
				total += e.Size
			}
			_, err = fmt.Fprintf(c.stdout, "backup %s: %s database, %d files, %s before compression\n",
				out, m.Database, len(m.Entries)-1, humanBytes(uint64(total)))
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the backup file to write (.tar.gz)")
	return cmd
}

func (c *cli) restoreCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into an empty data folder and an empty database",
		Long: `Restore a backup made by 'rexian backup' into the configured data folder and
database, both of which must be empty (a data folder that does not exist yet is fine; a
PostgreSQL schema without tables is fine). Every entry's checksum is verified before
anything is written to the database. Then start 'rexian serve' (it applies any newer
migrations) and run 'rexian audit verify'.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			m, err := restoreBackup(cmd.Context(), cfg, log, args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "restored %s of %s: %s database, %d files\n",
				args[0], m.CreatedAt.Format(time.RFC3339), m.Database, len(m.Entries)-1)
			return err
		},
	}
}

// ---- backup ----

func writeBackup(ctx context.Context, cfg config.Config, log *slog.Logger, out string) (m *manifest, err error) {
	db, err := database.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, err
	}
	defer database.Close(db)

	work, err := os.MkdirTemp(filepath.Dir(out), ".rexian-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)

	m = &manifest{Format: backupFormat, CreatedAt: time.Now().UTC(), Database: string(database.DialectOf(db))}
	var applied int64
	if err := db.WithContext(ctx).Table("schema_migrations").Count(&applied).Error; err != nil {
		return nil, fmt.Errorf("backup: the database has no schema_migrations table; is it rexian's? %w", err)
	}
	m.Migrations = int(applied)

	snapshot, name := filepath.Join(work, "snapshot"), ""
	start := time.Now()
	switch database.DialectOf(db) {
	case database.SQLite:
		name = sqliteSnapshot
		// VACUUM INTO copies one read transaction's view: consistent while writers go on.
		if err := db.WithContext(ctx).Exec("VACUUM INTO ?", snapshot).Error; err != nil {
			return nil, fmt.Errorf("backup: sqlite VACUUM INTO: %w", err)
		}
	case database.Postgres:
		name = pgSnapshot
		if err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&m.Schema).Error; err != nil || m.Schema == "" {
			return nil, fmt.Errorf("backup: which schema is in use: %v", err)
		}
		if err := pgDump(ctx, cfg.DatabaseURL, m.Schema, snapshot); err != nil {
			return nil, err
		}
	}
	log.Info("backup: database snapshot taken", "database", m.Database, "took", time.Since(start).Round(time.Millisecond))

	tmp, err := os.CreateTemp(filepath.Dir(out), ".rexian-backup-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	add := func(name, file string) error {
		e, err := addFile(tw, name, file)
		if err != nil {
			return fmt.Errorf("backup %s: %w", name, err)
		}
		m.Entries = append(m.Entries, e)
		return nil
	}
	if err := add(name, snapshot); err != nil {
		return nil, err
	}
	skip := databaseFiles(cfg.DatabaseURL)
	for _, tree := range backupTrees(cfg) {
		err := filepath.WalkDir(tree.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == tree.dir {
					return nil // nothing written there yet
				}
				return err
			}
			if !d.Type().IsRegular() || skip[p] || strings.HasPrefix(d.Name(), ".") {
				return nil // the live database, uploads in progress, the backup's own temp files
			}
			rel, err := filepath.Rel(tree.dir, p)
			if err != nil {
				return err
			}
			return add(path.Join(tree.prefix, filepath.ToSlash(rel)), p)
		})
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(mj)), ModTime: m.CreatedAt}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(mj); err != nil {
		return nil, err
	}
	for _, c := range []io.Closer{tw, gz} {
		if err := c.Close(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	log.Info("backup written", "file", out, "entries", len(m.Entries), "took", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// backupTree is a folder whose files go into the archive under prefix.
type backupTree struct{ dir, prefix string }

func backupTrees(cfg config.Config) []backupTree {
	trees := []backupTree{{cfg.DataDir, "files"}}
	if s := cfg.IVR.SpoolDir; s != "" {
		trees = append(trees, backupTree{s, "spool"})
	}
	return trees
}

// databaseFiles are the SQLite database's own files, which the snapshot stands for.
func databaseFiles(dbURL string) map[string]bool {
	p, ok := strings.CutPrefix(dbURL, "sqlite://")
	if !ok {
		return nil
	}
	p, _, _ = strings.Cut(p, "?")
	skip := map[string]bool{}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		skip[p+suffix] = true
		if abs, err := filepath.Abs(p + suffix); err == nil {
			skip[abs] = true
		}
	}
	return skip
}

// addFile copies one file into the archive and returns its entry.
func addFile(tw *tar.Writer, name, file string) (manifestEntry, error) {
	f, err := os.Open(file)
	if err != nil {
		return manifestEntry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return manifestEntry{}, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o640, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
		return manifestEntry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), f)
	if err != nil {
		return manifestEntry{}, err
	}
	if n != st.Size() {
		return manifestEntry{}, fmt.Errorf("%s changed while it was copied", file)
	}
	return manifestEntry{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ---- PostgreSQL tools ----

// pgTool finds pg_dump or pg_restore: on PATH, else the newest in Debian's versioned
// folders (a pg_dump must be at least as new as the server).
func pgTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return "", fmt.Errorf("%s not found: install the PostgreSQL client (Debian: postgresql-client) or put it on PATH", name)
	}
	sort.Slice(found, func(i, j int) bool { return pgVersion(found[i]) < pgVersion(found[j]) })
	return found[len(found)-1], nil
}

func pgVersion(p string) int {
	n := 0
	fmt.Sscanf(filepath.Base(filepath.Dir(filepath.Dir(p))), "%d", &n)
	return n
}

// libpqParams are the URL parameters libpq understands; every other parameter of a
// database_url (search_path, jit, …) is a server setting that pgx passes on, which libpq
// takes as options=-c name=value.
var libpqParams = map[string]bool{
	"sslmode": true, "sslcert": true, "sslkey": true, "sslrootcert": true, "sslpassword": true, "sslcrl": true,
	"connect_timeout": true, "application_name": true, "target_session_attrs": true, "passfile": true,
	"channel_binding": true, "krbsrvname": true, "gssencmode": true, "service": true, "options": true,
}

// libpqURL turns a database_url into a URL pg_dump and pg_restore accept.
func libpqURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("database_url: %w", err)
	}
	q := u.Query()
	out := url.Values{}
	var opts []string
	for k, vs := range q {
		if libpqParams[k] {
			out[k] = vs
			continue
		}
		for _, v := range vs {
			opts = append(opts, "-c "+k+"="+strings.ReplaceAll(v, " ", `\ `))
		}
	}
	if len(opts) > 0 {
		sort.Strings(opts)
		out.Set("options", strings.TrimSpace(out.Get("options")+" "+strings.Join(opts, " ")))
	}
	// libpq decodes %20, not +, as a space.
	u.RawQuery = strings.ReplaceAll(out.Encode(), "+", "%20")
	return u.String(), nil
}

func pgDump(ctx context.Context, dbURL, schema, file string) error {
	bin, err := pgTool("pg_dump")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	conn, err := libpqURL(dbURL)
	if err != nil {
		return err
	}
	// One transaction, so the dump is a consistent snapshot while writers go on.
	out, err := exec.CommandContext(ctx, bin, "--format=custom", "--no-owner", "--no-privileges",
		"--schema="+schema, "--file="+file, "--dbname="+conn).CombinedOutput()
	if err != nil {
		return fmt.Errorf("backup: pg_dump: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ---- restore ----

func restoreBackup(ctx context.Context, cfg config.Config, log *slog.Logger, file string) (*manifest, error) {
	if err := checkEmptyDir(cfg.DataDir); err != nil {
		return nil, err
	}
	for _, t := range backupTrees(cfg)[1:] {
		if err := checkEmptyDir(t.dir); err != nil {
			return nil, err
		}
	}
	parent := filepath.Dir(filepath.Clean(cfg.DataDir))
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	stage, err := os.MkdirTemp(parent, ".rexian-restore-*")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	m, err := unpackBackup(file, stage)
	if err != nil {
		return nil, err
	}
	log.Info("restore: archive verified", "entries", len(m.Entries), "created", m.CreatedAt)

	db, err := database.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, err
	}
	dialect := string(database.DialectOf(db))
	if dialect != m.Database {
		database.Close(db)
		return nil, fmt.Errorf("restore: the backup holds a %s database; database_url is %s", m.Database, dialect)
	}
	switch database.DialectOf(db) {
	case database.SQLite:
		err = restoreSQLite(ctx, db, cfg.DatabaseURL, filepath.Join(stage, sqliteSnapshot))
	case database.Postgres:
		err = restorePostgres(ctx, db, cfg.DatabaseURL, m.Schema, filepath.Join(stage, pgSnapshot), log)
		database.Close(db)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range backupTrees(cfg) {
		src := filepath.Join(stage, t.prefix)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := moveTree(src, t.dir); err != nil {
			return nil, fmt.Errorf("restore files into %s: %w", t.dir, err)
		}
	}
	return m, nil
}

// checkEmptyDir refuses a folder with anything in it; one that does not exist is fine.
func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("restore: %s is not empty (%d entries, e.g. %s): restore only into an empty data folder", dir, len(entries), entries[0].Name())
	}
	return nil
}

// unpackBackup extracts the archive into stage and verifies every entry against the
// manifest: same names, sizes and SHA-256, nothing missing, nothing extra.
func unpackBackup(file, stage string) (*manifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("restore: %s is not a rexian backup: %w", file, err)
	}
	tr := tar.NewReader(gz)
	got := map[string]manifestEntry{}
	var m *manifest
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %s is damaged: %w", file, err)
		}
		if h.Name == manifestName {
			m = &manifest{}
			if err := json.NewDecoder(tr).Decode(m); err != nil {
				return nil, fmt.Errorf("restore: the manifest is damaged: %w", err)
			}
			continue
		}
		clean := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("restore: %s holds an entry it should not: %q", file, h.Name)
		}
		dst := filepath.Join(stage, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		hash := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, hash), tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %s is damaged at %s: %w", file, h.Name, err)
		}
		got[clean] = manifestEntry{Name: clean, Size: n, SHA256: hex.EncodeToString(hash.Sum(nil))}
	}
	if m == nil {
		return nil, fmt.Errorf("restore: %s has no manifest: it is not a complete rexian backup", file)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("restore: backup format %d; this rexian reads format %d", m.Format, backupFormat)
	}
	for _, e := range m.Entries {
		g, ok := got[e.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("restore: %s is missing from the archive", e.Name)
		case g.Size != e.Size || g.SHA256 != e.SHA256:
			return nil, fmt.Errorf("restore: checksum mismatch for %s (%d bytes, sha256 %s; the manifest says %d bytes, %s)", e.Name, g.Size, g.SHA256, e.Size, e.SHA256)
		}
		delete(got, e.Name)
	}
	for name := range got {
		return nil, fmt.Errorf("restore: %s is in the archive but not in its manifest", name)
	}
	return m, nil
}

// restoreSQLite puts the snapshot in place of a database that has no tables yet.
func restoreSQLite(ctx context.Context, db *gorm.DB, dbURL, snapshot string) error {
	var tables int64
	err := db.WithContext(ctx).Raw("SELECT count(*) FROM sqlite_master WHERE type = 'table'").Scan(&tables).Error
	database.Close(db)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if tables > 0 {
		return fmt.Errorf("restore: the database %s already has %d tables: restore only into an empty database", dbURL, tables)
	}
	p, _, _ := strings.Cut(strings.TrimPrefix(dbURL, "sqlite://"), "?")
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		os.Remove(p + suffix)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return moveFile(snapshot, p)
}

// restorePostgres restores the dump into the target's schema, which must hold no
// tables, and must be the schema the dump was taken from (pg_dump names it).
func restorePostgres(ctx context.Context, db *gorm.DB, dbURL, schema, dump string, log *slog.Logger) error {
	var path string
	if err := db.WithContext(ctx).Raw("SHOW search_path").Scan(&path).Error; err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	target := ""
	for _, s := range strings.Split(path, ",") {
		s = strings.Trim(strings.TrimSpace(s), `"`)
		if s != "" && s != "$user" {
			target = s
			break
		}
	}
	if target != schema {
		return fmt.Errorf("restore: the backup holds schema %q; the target's search_path starts with %q: set search_path=%s in database_url", schema, target, schema)
	}
	var tables, exists int64
	if err := db.WithContext(ctx).Raw("SELECT count(*) FROM pg_tables WHERE schemaname = ?", schema).Scan(&tables).Error; err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if tables > 0 {
		return fmt.Errorf("restore: schema %s already has %d tables: restore only into an empty database", schema, tables)
	}
	if err := db.WithContext(ctx).Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", schema).Scan(&exists).Error; err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Word search's indexes use pg_trgm, which lives outside the dumped schema.
	if err := db.WithContext(ctx).Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").Error; err != nil {
		log.Warn("restore: cannot create pg_trgm; the word-search indexes will fail to restore", "err", err)
	}
	bin, err := pgTool("pg_restore")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	conn, err := libpqURL(dbURL)
	if err != nil {
		return err
	}
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--dbname=" + conn}
	if exists > 0 {
		// The schema is there (empty): restore everything but its CREATE SCHEMA.
		list, err := exec.CommandContext(ctx, bin, "--list", dump).Output()
		if err != nil {
			return fmt.Errorf("restore: pg_restore --list: %w", err)
		}
		var keep []string
		for _, l := range strings.Split(string(list), "\n") {
			if !strings.Contains(l, " SCHEMA - ") {
				keep = append(keep, l)
			}
		}
		lf := dump + ".list"
		if err := os.WriteFile(lf, []byte(strings.Join(keep, "\n")), 0o600); err != nil {
			return err
		}
		args = append(args, "--use-list="+lf)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, dump)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("restore: pg_restore: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// moveTree moves every file under src into dst, keeping the relative paths.
func moveTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return moveFile(p, filepath.Join(dst, rel))
	})
}

// moveFile renames, or copies when src and dst are on different file systems.
func moveFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
