package web

import (
	"context"
	"strings"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// systemActors are the actors that are not people — the channels and workers that act
// on tickets — in the words the desk uses for them.
var systemActors = map[string]string{
	"operator:web": "网上受理", "operator:ivr": "语音留言", "operator:mailbox": "市长信箱",
	"operator:qq": "QQ受理", "operator:sms": "短信受理", "integrator:open311": "Open311接口",
	"supervisor:callback": "系统回访", "system:callback": "系统回访", "system:sms": "短信回访", "system": "系统",
	tickets.ImportActor: "历史数据导入",
}

// roleNames are the roles in words, for an actor without a display name.
var roleNames = map[auth.Role]string{auth.RoleOperator: "话务员", auth.RoleSupervisor: "督办员", auth.RoleDepartment: "承办单位",
	auth.RoleAdmin: "管理员", auth.RoleIntegrator: "接口"}

// nameActors replaces the ticket's actors ("operator:wangli") with what a person reads:
// 话务员 王丽, the unit of a department user (东胜区人民政府), a system actor in words
// (网上受理). One query for the people among them.
func (h *Handler) nameActors(ctx context.Context, v *tickets.View, dir *directory) {
	var actors []*string
	actors = append(actors, &v.RegisteredBy)
	for i := range v.Timeline {
		actors = append(actors, &v.Timeline[i].Actor)
	}
	for i := range v.Attachments {
		actors = append(actors, &v.Attachments[i].UploadedBy)
	}
	if err := h.nameAll(ctx, actors, dir); err != nil {
		h.log.WarnContext(ctx, "name the ticket's actors", "ticket", v.Number, "err", err)
	}
}

// nameAll replaces each actor ("operator:wangli") with its words, as nameActors does for
// a ticket; one query for the people among them. On an error the people are still named
// by role and account, so a page never waits on it.
func (h *Handler) nameAll(ctx context.Context, actors []*string, dir *directory) error {
	var usernames []string
	for _, a := range actors {
		if _, ok := systemActors[*a]; ok {
			continue
		}
		if _, name, ok := strings.Cut(*a, ":"); ok && name != "" {
			usernames = append(usernames, name)
		}
	}
	users, err := h.opts.Auth.UsersNamed(ctx, usernames)
	known := map[string]string{}
	for _, u := range users {
		w := u.DisplayName
		if u.Role == auth.RoleDepartment && u.DepartmentID != nil {
			if code := dir.codeOf(*u.DepartmentID); code != "" {
				w = dir.name(code)
			}
		}
		if w == "" || w == u.Username { // a display name left at its default
			w = nameOr(roleNames[u.Role], string(u.Role)) + " " + u.Username
		}
		known[string(u.Role)+":"+u.Username] = w
	}
	for _, a := range actors {
		*a = actorWords(*a, known)
	}
	return err
}

// actorWords is one actor in words: a system actor, a known person, or the role in words
// with the name.
func actorWords(actor string, known map[string]string) string {
	if w, ok := systemActors[actor]; ok {
		return w
	}
	if w, ok := known[actor]; ok {
		return w
	}
	if role, name, ok := strings.Cut(actor, ":"); ok {
		return nameOr(roleNames[auth.Role(role)], role) + " " + name
	}
	return actor
}

// place is where the matter is as the citizen gave it: the address, after the district
// and township (by area, not by their governments' office names) when the address does
// not already name them.
func place(l tickets.LocationView) string {
	var parts []string
	for _, d := range []*tickets.DepartmentRef{l.District, l.Township} {
		if d == nil {
			continue
		}
		area := d.Name
		for _, office := range []string{"人民政府", "办事处", "政府"} {
			area = strings.TrimSuffix(area, office)
		}
		if area != "" && !strings.Contains(l.Address, area) {
			parts = append(parts, area)
		}
	}
	if l.Address != "" {
		parts = append(parts, l.Address)
	}
	return strings.Join(parts, " ")
}
