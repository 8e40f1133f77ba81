package open311

import (
	"encoding/json"
	"encoding/xml"
	"net/http"

	"github.com/gin-gonic/gin"
)

// format is the response format named by the path's extension.
type format string

const (
	formatJSON format = "json"
	formatXML  format = "xml"
)

// specError is one entry of the specification's error list.
type specError struct {
	Code        int    `json:"code" xml:"code"`
	Description string `json:"description" xml:"description"`
}

func (e *specError) Error() string { return e.Description }

func errorf(code int, description string) *specError {
	return &specError{Code: code, Description: description}
}

type errorsXML struct {
	XMLName xml.Name    `xml:"errors"`
	Errors  []specError `xml:"error"`
}

// write sends v as JSON, or as XML wrapped the way the specification names the elements:
// the JSON value is what a JSON client gets; x is its XML form.
func write(c *gin.Context, f format, status int, jsonValue, xmlValue any) {
	c.Header("X-Content-Type-Options", "nosniff")
	if f == formatXML {
		b, err := xml.Marshal(xmlValue)
		if err != nil {
			c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
			return
		}
		c.Data(status, "text/xml; charset=utf-8", append([]byte(xml.Header), b...))
		return
	}
	b, err := json.Marshal(jsonValue)
	if err != nil {
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// writeError sends the specification's error list with the HTTP status of its code.
func writeError(c *gin.Context, f format, e *specError) {
	write(c, f, e.Code, []specError{*e}, errorsXML{Errors: []specError{*e}})
}
