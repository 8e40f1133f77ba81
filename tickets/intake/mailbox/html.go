package mailbox

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlText turns an HTML body into plain text for a ticket: the text as a reader sees
// it, with paragraphs and line breaks kept, entities decoded, and nothing of scripts,
// styles or comments. The result is stored and shown as text, never rendered as markup.
//
// golang.org/x/net/html parses like a browser (it never fails, whatever the input), so
// walking its tree is enough; a sanitiser such as bluemonday answers another question
// (which markup is safe to render) and would still leave the layout to us.
func htmlText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return src
	}
	var b strings.Builder
	newline := func(n int) {
		s := b.String()
		have := len(s) - len(strings.TrimRight(s, "\n"))
		if len(s) == 0 {
			return
		}
		for ; have < n; have++ {
			b.WriteByte('\n')
		}
	}
	var walk func(n *html.Node, pre bool)
	walk = func(n *html.Node, pre bool) {
		switch n.Type {
		case html.CommentNode, html.DoctypeNode:
			return
		case html.TextNode:
			if pre {
				b.WriteString(n.Data)
				return
			}
			// Collapse whitespace as a browser does, keeping one space between words.
			t := strings.Join(strings.Fields(n.Data), " ")
			if t == "" {
				if n.Data != "" && b.Len() > 0 && !strings.HasSuffix(b.String(), " ") && !strings.HasSuffix(b.String(), "\n") {
					b.WriteByte(' ')
				}
				return
			}
			if startsWithSpace(n.Data) && b.Len() > 0 && !strings.HasSuffix(b.String(), " ") && !strings.HasSuffix(b.String(), "\n") {
				b.WriteByte(' ')
			}
			b.WriteString(t)
			if endsWithSpace(n.Data) {
				b.WriteByte(' ')
			}
			return
		case html.ElementNode:
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template, atom.Iframe,
				atom.Object, atom.Embed, atom.Svg, atom.Math, atom.Select, atom.Button:
				return
			case atom.Br:
				b.WriteByte('\n')
				return
			case atom.Hr:
				newline(1)
				b.WriteString("----")
				newline(1)
				return
			case atom.Img:
				if alt := attr(n, "alt"); strings.TrimSpace(alt) != "" {
					b.WriteString("[" + strings.TrimSpace(alt) + "]")
				}
				return
			case atom.P, atom.Div, atom.Table, atom.Blockquote, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
				atom.Ul, atom.Ol, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Pre, atom.Address:
				newline(2)
				defer newline(2)
			case atom.Tr, atom.Dt, atom.Dd, atom.Caption:
				newline(1)
				defer newline(1)
			case atom.Li:
				newline(1)
				b.WriteString("- ")
				defer newline(1)
			case atom.Td, atom.Th:
				defer b.WriteByte('\t')
			case atom.A:
				href := strings.TrimSpace(attr(n, "href"))
				if strings.HasPrefix(href, "http://") || strings.HasPrefix(href, "https://") {
					defer func() {
						if !strings.HasSuffix(strings.TrimSpace(b.String()), href) {
							b.WriteString(" (" + href + ")")
						}
					}()
				}
			}
			pre = pre || n.DataAtom == atom.Pre || n.DataAtom == atom.Textarea
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, pre)
		}
	}
	walk(doc, false)
	// Each line on its own: trim the spaces the collapsing and the cells left at its end.
	lines := strings.Split(b.String(), "\n")
	for i, ln := range lines {
		lines[i] = strings.TrimRight(ln, " \t")
	}
	return strings.Join(lines, "\n")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func startsWithSpace(s string) bool { return s != "" && strings.ContainsRune(" \t\n\r\f", rune(s[0])) }
func endsWithSpace(s string) bool {
	return s != "" && strings.ContainsRune(" \t\n\r\f", rune(s[len(s)-1]))
}
