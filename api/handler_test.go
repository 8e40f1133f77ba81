package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestBindJSONRejectsBadBodies(t *testing.T) {
	gin.SetMode(gin.TestMode)
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	r := gin.New()
	r.POST("/", Handle(nil, func(c *gin.Context) error {
		var b body
		if err := BindJSON(c, &b); err != nil {
			return err
		}
		c.JSON(http.StatusOK, b)
		return nil
	}))
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"good", `{"name":"a","count":1}`, 200, "", ""},
		{"empty", ``, 400, "invalid_json", "empty"},
		{"malformed", `{"name":`, 400, "invalid_json", "malformed"},
		{"wrong type", `{"count":"x"}`, 400, "invalid_json", `"count"`},
		{"unknown field", `{"nmae":"a"}`, 400, "invalid_json", `nmae`},
		{"trailing data", `{"name":"a"} {"name":"b"}`, 400, "invalid_json", "after the object"},
		{"too large", `{"name":"` + strings.Repeat("x", MaxJSONBody) + `"}`, 413, "body_too_large", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(tc.body)))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code == "" {
				return
			}
			var e Body
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("not the error envelope: %s", w.Body)
			}
			if e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("error %+v, want code %s and a message with %q", e.Error, tc.code, tc.msg)
			}
		})
	}
}

func TestServerErrorsHideDetails(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Recovery(nil))
	r.GET("/boom", func(c *gin.Context) { panic("secret detail") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || !strings.Contains(w.Body.String(), `"internal"`) {
		t.Fatalf("panic answered %d %s", w.Code, w.Body)
	}
}
