package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the API's OpenAPI 3 document as JSON.
func OpenAPI() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// OpenAPIHandler serves the document.
func OpenAPIHandler() gin.HandlerFunc {
	doc, err := OpenAPI()
	return func(c *gin.Context) {
		if err != nil {
			WriteError(c, nil, err)
			return
		}
		c.Data(http.StatusOK, "application/json", doc)
	}
}
