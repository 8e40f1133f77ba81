package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// reportInput is what the citizen typed; it is shown back whenever a submission fails.
type reportInput struct {
	Content  string
	District string
	Township string
	Address  string
	Category string
	Name     string
	Phone    string
	Honeypot string
	Token    string
	// filesSent: the post carried photos, which a form shown again cannot keep.
	filesSent bool
}

// cleanText holds the typed fields to the text rule of api.CheckText: it cleans them and
// returns the label of the first field that broke it, or "" when none did.
func (in *reportInput) cleanText() string {
	bad := ""
	for _, f := range []struct {
		label string
		v     *string
	}{
		{"发生了什么", &in.Content}, {"所在旗区", &in.District}, {"苏木乡镇（街道）", &in.Township},
		{"详细地址", &in.Address}, {"问题类别", &in.Category}, {"姓名", &in.Name}, {"手机号码", &in.Phone},
	} {
		if api.CheckText(f.label, *f.v) != nil && bad == "" {
			bad = f.label
		}
		*f.v = api.CleanText(*f.v)
	}
	return bad
}

// photo is one uploaded photo, already read and sniffed.
type photo struct {
	data []byte
	ext  string
}

// reportPage is the form's data.
type reportPage struct {
	Dir            *directoryView
	In             reportInput
	Token          string
	Error          string
	PhotosDropped  bool // the citizen chose photos that must be chosen again
	MaxPhotos      int
	PhotoMaxMB     int64
	CategoryNeeded bool
}

// donePage is the answer to a registered report.
type donePage struct {
	Number       string
	HasPhone     bool
	PhotosFailed int
}

// Field names of the form. "website" is the honeypot: hidden from people by CSS and
// from assistive technology by aria-hidden, filled in by robots that fill every field.
const (
	fieldContent  = "content"
	fieldDistrict = "district"
	fieldTownship = "township"
	fieldAddress  = "address"
	fieldCategory = "category"
	fieldName     = "name"
	fieldPhone    = "phone"
	fieldHoneypot = "website"
	fieldToken    = "form_token"
	fieldPhotos   = "photos"
)

// Limits on the text fields, in characters; the store has its own, larger ones.
const (
	maxContentRunes = 2000
	maxAddressRunes = 200
	maxNameRunes    = 32
	maxFieldBytes   = 32 << 10
)

// photoTypes are the photo types accepted, by sniffed content, with the extension the
// stored file gets (phones name files in many ways; the content decides).
var photoTypes = map[string]string{
	"image/jpeg": ".jpg",
	"image/png":  ".png",
	"image/gif":  ".gif",
	"image/webp": ".webp",
}

func (h *Handler) showReport(c *gin.Context) {
	ctx := c.Request.Context()
	dir, err := h.directory(ctx)
	if err != nil {
		h.log.ErrorContext(ctx, "report form: load choices", "err", err)
		renderPlainError(c, http.StatusServiceUnavailable, "系统暂时无法提供网上诉求服务，请稍后再试，或拨打12345热线反映。")
		return
	}
	h.render(c, http.StatusOK, "report", h.page(dir, reportInput{}, h.tokens.issue(h.now()), ""))
}

func (h *Handler) page(dir *directoryView, in reportInput, token, msg string) *reportPage {
	return &reportPage{Dir: dir, In: in, Token: token, Error: msg, MaxPhotos: h.opts.MaxPhotos,
		PhotoMaxMB: h.opts.PhotoMaxBytes >> 20, CategoryNeeded: h.opts.DefaultCategory == ""}
}

// submitError is a refused submission: the status and the sentence the citizen reads.
type submitError struct {
	status int
	msg    string
}

func (e *submitError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *submitError {
	return &submitError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (h *Handler) submitReport(c *gin.Context) {
	ctx := c.Request.Context()
	now := h.now()
	client := c.ClientIP()
	log := h.log.With("client", client)

	in, photos, perr := h.readReport(c)
	dir, derr := h.directory(ctx)
	if derr != nil {
		// No choices to show the form with: still tell the citizen plainly, with their text.
		log.ErrorContext(ctx, "report: load choices", "err", derr)
		renderPlainError(c, http.StatusServiceUnavailable,
			"系统暂时无法受理，请稍后再试，或拨打12345热线反映。您填写的内容如下，请自行保存：\n\n"+in.Content+"\n"+in.Address)
		return
	}
	// A refused submission shows the form again with what was typed and a token that
	// keeps the time the form was first served, so that it may be sent again at once.
	fail := func(e *submitError, issued time.Time) {
		if issued.IsZero() {
			issued = now
		}
		p := h.page(dir, in, h.tokens.issue(issued), e.msg)
		p.PhotosDropped = in.filesSent
		h.render(c, e.status, "report", p)
	}
	nonce, issued, problem := h.tokens.check(in.Token, now)
	// A form sent back keeps its first serving time only if its token was genuine.
	keep := time.Time{}
	if problem == tokenOK || problem == tokenTooFresh {
		keep = issued
	}
	if perr != nil {
		var se *submitError
		if !errors.As(perr, &se) {
			log.WarnContext(ctx, "report: read form", "err", perr)
			se = refuse(http.StatusBadRequest, "提交的表单无法读取，请重新填写后提交。")
		}
		fail(se, keep)
		return
	}
	if label := in.cleanText(); label != "" {
		// The rule every text entering rexian keeps (api.CheckText): refused, with the
		// citizen's text kept, the offending characters taken out, to be sent again.
		log.InfoContext(ctx, "report refused: control characters in the text", "field", label)
		fail(refuse(http.StatusBadRequest, "“%s”中含有不允许的字符（控制字符、文字方向控制符或乱码），已为您去除，请核对后重新提交。", label), keep)
		return
	}
	if in.Honeypot != "" {
		log.InfoContext(ctx, "report refused: honeypot filled")
		fail(refuse(http.StatusBadRequest, "提交未通过校验，请检查后重新提交。"), time.Time{})
		return
	}
	switch problem {
	case tokenInvalid:
		log.InfoContext(ctx, "report refused: invalid form token")
		fail(refuse(http.StatusBadRequest, "页面已失效，请重新提交。"), time.Time{})
		return
	case tokenTooFresh:
		log.InfoContext(ctx, "report refused: form sent too soon after it was served")
		fail(refuse(http.StatusBadRequest, "提交太快了，请确认内容后稍等几秒再提交。"), keep)
		return
	case tokenExpired:
		fail(refuse(http.StatusBadRequest, "页面打开时间过长已失效，内容已为您保留，请再次提交。"), time.Time{})
		return
	}
	if wait, blocked := h.submits.blocked(ctx, client, now); blocked {
		log.InfoContext(ctx, "report refused: rate limit", "retry_after", wait)
		c.Header("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		fail(refuse(http.StatusTooManyRequests, "您提交的次数过多，请%d分钟后再试，或拨打12345热线反映。", int(wait.Minutes())+1), keep)
		return
	}
	nt, se := h.validate(dir, in)
	if se != nil {
		fail(se, keep)
		return
	}
	if h.tokens.redeem(ctx, nonce, now) == tokenUsed {
		log.InfoContext(ctx, "report refused: form token used before")
		fail(refuse(http.StatusConflict, "这份表单已经提交过了。如需反映新的问题，请再次提交。"), time.Time{})
		return
	}
	h.submits.add(ctx, client, now)

	v, err := h.opts.Store.Create(ctx, actor, nt)
	if err != nil {
		fail(h.createError(ctx, err), keep)
		return
	}
	log = log.With("ticket", v.Number)
	log.InfoContext(ctx, "web report registered", "photos", len(photos))
	failed := h.attach(ctx, v.Number, photos)
	h.render(c, http.StatusOK, "done", &donePage{Number: v.Number, HasPhone: v.Citizen.Phone != "", PhotosFailed: failed})
}

// attach stores the photos with the ticket. The ticket is registered already; a photo
// that cannot be kept is logged and told to the citizen, never a reason to lose the report.
func (h *Handler) attach(ctx context.Context, number string, photos []photo) (failed int) {
	for i, p := range photos {
		name := fmt.Sprintf("照片%d%s", i+1, p.ext)
		if _, err := h.opts.Store.AddAttachment(ctx, actor, number, name, bytes.NewReader(p.data)); err != nil {
			h.log.ErrorContext(ctx, "web report: photo not stored", "ticket", number, "photo", i+1, "err", err)
			failed++
		}
	}
	return failed
}

// createError turns a registration failure into what the citizen reads. Input mistakes
// the form did not catch get their own sentence; anything else is the server's fault.
func (h *Handler) createError(ctx context.Context, err error) *submitError {
	var ae *api.Error
	if errors.As(err, &ae) && errors.Is(err, api.ErrInvalid) {
		switch {
		case strings.Contains(ae.Code, "township"):
			return refuse(http.StatusBadRequest, "所选苏木乡镇（街道）不属于所选旗区，请重新选择。")
		case strings.Contains(ae.Code, "district"):
			return refuse(http.StatusBadRequest, "请重新选择旗区。")
		case strings.Contains(ae.Code, "category"):
			return refuse(http.StatusBadRequest, "请重新选择问题类别。")
		case strings.Contains(ae.Code, "phone"):
			return refuse(http.StatusBadRequest, "手机号码格式不正确，请检查。")
		}
		h.log.WarnContext(ctx, "web report refused by the store", "code", ae.Code, "err", err)
		return refuse(http.StatusBadRequest, "提交的信息有误（%s），请检查后重新提交。", ae.Code)
	}
	h.log.ErrorContext(ctx, "web report not registered", "err", err)
	return refuse(http.StatusServiceUnavailable, "系统暂时无法受理您的诉求，您填写的内容已保留在下方，请稍后再次提交，或拨打12345热线反映。")
}

// validate checks the input and builds the registration. Messages are for the citizen.
func (h *Handler) validate(dir *directoryView, in reportInput) (tickets.NewTicket, *submitError) {
	bad := func(format string, args ...any) (tickets.NewTicket, *submitError) {
		return tickets.NewTicket{}, refuse(http.StatusBadRequest, format, args...)
	}
	content := strings.TrimSpace(in.Content)
	switch n := utf8.RuneCountInString(content); {
	case n == 0:
		return bad("请填写您要反映的问题。")
	case n < 5:
		return bad("问题描述太短，请写清楚发生了什么。")
	case n > maxContentRunes:
		return bad("问题描述有%d字，请精简到%d字以内。", n, maxContentRunes)
	}
	if utf8.RuneCountInString(in.Address) > maxAddressRunes {
		return bad("详细地址请控制在%d字以内。", maxAddressRunes)
	}
	if utf8.RuneCountInString(in.Name) > maxNameRunes {
		return bad("姓名请控制在%d字以内。", maxNameRunes)
	}
	if in.District == "" {
		return bad("请选择问题发生的旗区。")
	}
	known := false
	for _, d := range dir.Districts {
		if d.Code == in.District {
			known = true
			ok := in.Township == ""
			for _, t := range d.Townships {
				ok = ok || t.Code == in.Township
			}
			if !ok {
				return bad("所选苏木乡镇（街道）不属于所选旗区，请重新选择。")
			}
		}
	}
	if !known {
		return bad("请重新选择旗区。")
	}
	category := in.Category
	if category == "" {
		category = h.opts.DefaultCategory
	}
	if category == "" {
		return bad("请选择问题类别。")
	}
	var ph string
	if raw := strings.TrimSpace(in.Phone); raw != "" {
		n, err := phone.Parse(raw)
		if err != nil || !n.IsMobile() {
			return bad("请填写正确的11位手机号码，或留空。")
		}
		ph = n.National
	}
	wants := ph != ""
	return tickets.NewTicket{
		Channel:  tickets.ChannelWeb,
		Citizen:  tickets.NewCitizen{Name: strings.TrimSpace(in.Name), Phone: ph, Anonymous: strings.TrimSpace(in.Name) == "", WantsReply: &wants},
		Content:  content,
		Category: category,
		Location: tickets.NewLocation{District: in.District, Township: in.Township, Address: strings.TrimSpace(in.Address)},
	}, nil
}

// readReport reads the posted form: multipart with photos, or urlencoded without. Text
// fields are read even when a photo is refused, so that the form comes back filled in.
func (h *Handler) readReport(c *gin.Context) (reportInput, []photo, error) {
	var in reportInput
	set := func(name, v string) {
		switch name {
		case fieldContent:
			in.Content = v
		case fieldDistrict:
			in.District = strings.TrimSpace(v)
		case fieldTownship:
			in.Township = strings.TrimSpace(v)
		case fieldAddress:
			in.Address = v
		case fieldCategory:
			in.Category = strings.TrimSpace(v)
		case fieldName:
			in.Name = v
		case fieldPhone:
			in.Phone = v
		case fieldHoneypot:
			in.Honeypot = strings.TrimSpace(v)
		case fieldToken:
			in.Token = strings.TrimSpace(v)
		}
	}
	limit := int64(h.opts.MaxPhotos)*h.opts.PhotoMaxBytes + 1<<20
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if ct != "multipart/form-data" {
		if err := c.Request.ParseForm(); err != nil {
			return in, nil, tooLarge(err, h.opts.PhotoMaxBytes)
		}
		for name, vs := range c.Request.PostForm {
			if len(vs) > 0 {
				set(name, vs[0])
			}
		}
		return in, nil, nil
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return in, nil, err
	}
	var photos []photo
	var refused error
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return in, photos, tooLarge(err, h.opts.PhotoMaxBytes)
		}
		name := part.FormName()
		if name != fieldPhotos {
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return in, photos, tooLarge(err, h.opts.PhotoMaxBytes)
			}
			if len(b) > maxFieldBytes {
				refused = refuse(http.StatusRequestEntityTooLarge, "填写的内容过长，请精简后提交。")
				continue
			}
			set(name, string(b))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, h.opts.PhotoMaxBytes+1))
		if err != nil {
			return in, photos, tooLarge(err, h.opts.PhotoMaxBytes)
		}
		if len(data) == 0 && part.FileName() == "" {
			continue // the file input left empty
		}
		in.filesSent = true
		switch {
		case refused != nil:
		case len(photos) >= h.opts.MaxPhotos:
			refused = refuse(http.StatusBadRequest, "最多上传%d张照片。", h.opts.MaxPhotos)
		case int64(len(data)) > h.opts.PhotoMaxBytes:
			refused = refuse(http.StatusRequestEntityTooLarge, "每张照片不能超过%dMB。", h.opts.PhotoMaxBytes>>20)
		case len(data) == 0:
			refused = refuse(http.StatusBadRequest, "照片是空文件，请重新选择。")
		default:
			ext := photoExt(data)
			if ext == "" {
				refused = refuse(http.StatusBadRequest, "只能上传JPG、PNG、GIF或WebP格式的照片。")
				continue
			}
			photos = append(photos, photo{data: data, ext: ext})
		}
	}
	return in, photos, refused
}

func tooLarge(err error, photoMax int64) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return refuse(http.StatusRequestEntityTooLarge, "提交的内容过大：每张照片不能超过%dMB。", photoMax>>20)
	}
	return err
}

// photoExt is the extension for data's sniffed type, or "" when it is not a photo type.
func photoExt(data []byte) string {
	mt := mimetype.Detect(data)
	for typ, ext := range photoTypes {
		if mt.Is(typ) {
			return ext
		}
	}
	return ""
}
