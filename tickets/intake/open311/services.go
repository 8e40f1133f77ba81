package open311

import (
	"context"
	"encoding/xml"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// service is one entry of GET services.
type service struct {
	ServiceCode string `json:"service_code" xml:"service_code"`
	ServiceName string `json:"service_name" xml:"service_name"`
	Description string `json:"description" xml:"description"`
	Metadata    bool   `json:"metadata" xml:"metadata"`
	Type        string `json:"type" xml:"type"`
	Keywords    string `json:"keywords" xml:"keywords"`
	Group       string `json:"group" xml:"group"`
}

type servicesXML struct {
	XMLName  xml.Name  `xml:"services"`
	Services []service `xml:"service"`
}

// attribute is one question of a service definition.
type attribute struct {
	Variable            bool    `json:"variable" xml:"variable"`
	Code                string  `json:"code" xml:"code"`
	Datatype            string  `json:"datatype" xml:"datatype"`
	Required            bool    `json:"required" xml:"required"`
	DatatypeDescription string  `json:"datatype_description" xml:"datatype_description"`
	Order               int     `json:"order" xml:"order"`
	Description         string  `json:"description" xml:"description"`
	Values              []value `json:"values,omitempty" xml:"values>value,omitempty"`
}

type value struct {
	Key  string `json:"key" xml:"key"`
	Name string `json:"name" xml:"name"`
}

// definition is GET services/{code}.
type definition struct {
	XMLName     xml.Name    `json:"-" xml:"service_definition"`
	ServiceCode string      `json:"service_code" xml:"service_code"`
	Attributes  []attribute `json:"attributes" xml:"attributes>attribute"`
}

// Attribute codes of services routed by place.
const (
	attrDistrict = "district"
	attrTownship = "township"
)

// catalog is the services with what routing them needs, built from the directory.
type catalog struct {
	services  []service
	byCode    map[string]service
	districts []value
	townships map[string][]value // by district code
	allTowns  []value
}

func (h *Handler) catalog(ctx context.Context) (*catalog, error) {
	cats, err := h.opts.Store.Categories(ctx)
	if err != nil {
		return nil, err
	}
	depts, err := h.opts.Store.Departments(ctx)
	if err != nil {
		return nil, err
	}
	cat := &catalog{byCode: map[string]service{}, townships: map[string][]value{}}
	districts := map[string]bool{}
	for _, d := range depts {
		if d.Active && d.Level == tickets.LevelDistrict && d.Government && d.Parent == "" {
			districts[d.Code] = true
			cat.districts = append(cat.districts, value{Key: d.Code, Name: intake.PlaceName(d.Name)})
		}
	}
	for _, d := range depts {
		if d.Active && d.Level == tickets.LevelTownship && districts[d.Parent] {
			v := value{Key: d.Code, Name: intake.PlaceName(d.Name)}
			cat.townships[d.Parent] = append(cat.townships[d.Parent], v)
			cat.allTowns = append(cat.allTowns, v)
		}
	}
	byCode := map[string]tickets.CategoryView{}
	hasChildren := map[string]bool{}
	for _, c := range cats {
		byCode[c.Code] = c
		if c.Parent != "" {
			hasChildren[c.Parent] = true
		}
	}
	for _, c := range cats {
		if !c.Active || hasChildren[c.Code] {
			continue
		}
		// Walk up for the default department and the top-level group.
		routed, group := false, c
		for x, n := c, 0; n < 16; n++ {
			routed = routed || x.Department != ""
			group = x
			p, ok := byCode[x.Parent]
			if !ok {
				break
			}
			x = p
		}
		s := service{ServiceCode: c.Code, ServiceName: c.Name, Metadata: !routed, Type: "realtime", Group: group.Name}
		if group.Code != c.Code {
			s.Description = group.Name + "：" + c.Name
		} else {
			s.Description = c.Name
		}
		cat.services = append(cat.services, s)
		cat.byCode[c.Code] = s
	}
	return cat, nil
}

// attributes are the questions a service routed by place asks.
func (cat *catalog) attributes(s service) []attribute {
	if !s.Metadata {
		return []attribute{}
	}
	return []attribute{{
		Variable: true, Code: attrDistrict, Datatype: "singlevaluelist", Required: true, Order: 1,
		DatatypeDescription: "旗区代码", Description: "问题发生地所在的旗区（决定承办单位）", Values: cat.districts,
	}, {
		Variable: true, Code: attrTownship, Datatype: "singlevaluelist", Required: false, Order: 2,
		DatatypeDescription: "苏木乡镇（街道）代码，须属于所选旗区", Description: "问题发生地所在的苏木乡镇（街道）", Values: cat.allTowns,
	}}
}

func (h *Handler) services(c *gin.Context, f format) *specError {
	cat, err := h.catalog(c.Request.Context())
	if err != nil {
		return h.serverError(c.Request.Context(), "open311 services", err)
	}
	list := cat.services
	if list == nil {
		list = []service{}
	}
	write(c, f, http.StatusOK, list, servicesXML{Services: list})
	return nil
}

func (h *Handler) serviceDefinition(c *gin.Context, f format, code string) *specError {
	cat, err := h.catalog(c.Request.Context())
	if err != nil {
		return h.serverError(c.Request.Context(), "open311 service definition", err)
	}
	s, ok := cat.byCode[code]
	if !ok {
		return errorf(http.StatusNotFound, "service_code "+code+" not found")
	}
	d := definition{ServiceCode: s.ServiceCode, Attributes: cat.attributes(s)}
	write(c, f, http.StatusOK, d, d)
	return nil
}
