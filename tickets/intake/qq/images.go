package qq

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gabriel-vasile/mimetype"
)

// imageFetcher fetches the images of a message from the addresses the OneBot
// implementation gives (QQ's picture servers), within a size limit and a timeout.
type imageFetcher struct {
	Client   *http.Client
	MaxBytes int64
}

type fetchedImage struct {
	data []byte
	ext  string
}

// imageTypes are the image types kept, by sniffed content, with the extension given.
var imageTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}

func (f imageFetcher) fetch(ctx context.Context, raw string) (fetchedImage, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fetchedImage{}, fmt.Errorf("not an http address")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fetchedImage{}, err
	}
	client := f.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	res, err := client.Do(req)
	if err != nil {
		return fetchedImage{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fetchedImage{}, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	max := f.MaxBytes
	if max <= 0 {
		max = 5 << 20
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return fetchedImage{}, err
	}
	if int64(len(b)) > max {
		return fetchedImage{}, fmt.Errorf("over %d bytes", max)
	}
	mt := mimetype.Detect(b)
	for typ, ext := range imageTypes {
		if mt.Is(typ) {
			return fetchedImage{data: b, ext: ext}, nil
		}
	}
	return fetchedImage{}, fmt.Errorf("not an image (%s)", mt.String())
}

// fetchImages fetches what it can; each failure becomes a line of the registration note,
// so that the desk knows a picture was sent and the report itself is never lost.
func (b *Bot) fetchImages(ctx context.Context, log *slog.Logger, addrs []string) ([]fetchedImage, []string) {
	var out []fetchedImage
	var notes []string
	for i, a := range addrs {
		img, err := b.opts.Fetch.fetch(ctx, a)
		if err != nil {
			log.WarnContext(ctx, "qq image not fetched", "image", i+1, "err", err)
			notes = append(notes, fmt.Sprintf("图片%d未能获取（%v）：%s", i+1, err, truncate(a, 300)))
			continue
		}
		out = append(out, img)
	}
	return out, notes
}
