package live

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// IsSentinelURL reports whether rawURL names Redis through its sentinels.
func IsSentinelURL(rawURL string) bool {
	return strings.HasPrefix(rawURL, "redis-sentinel://") || strings.HasPrefix(rawURL, "rediss-sentinel://")
}

// ParseSentinelURL reads the Sentinel form of redis_url:
//
//	redis-sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB][?PARAMS]
//
// HOST:PORT are the sentinels (port 26379 when left out), MASTER the name they monitor
// (the `sentinel monitor` line), DB the database number (default 0), PASSWORD the Redis
// servers' password (requirepass/masterauth; a user name before it selects an ACL user).
// rediss-sentinel:// speaks TLS to the sentinels and the servers. PARAMS:
//
//	sentinel_password, sentinel_username   when the sentinels themselves ask for one
//	                                       (requirepass in sentinel.conf)
//
// and go-redis's failover options by their snake-case names (dial_timeout=3s,
// pool_size=20, …). The client asks the sentinels for the current master on every
// reconnect, so after a failover it follows the promoted replica by itself.
func ParseSentinelURL(rawURL string) (*redis.FailoverOptions, error) {
	if !IsSentinelURL(rawURL) {
		return nil, fmt.Errorf("redis sentinel url: want redis-sentinel:// or rediss-sentinel://")
	}
	// net/url checks only the last host's port, so a list whose last host has none would
	// be refused: take the hosts out before parsing the rest.
	scheme, rest, _ := strings.Cut(rawURL, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		hosts = authority[at+1:]
		authority = authority[:at+1] + "sentinels"
	} else {
		authority = "sentinels"
	}
	u, err := url.Parse(scheme + "://" + authority + rest[end:])
	if err != nil {
		return nil, fmt.Errorf("redis sentinel url: %w", err)
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, "26379")
		}
		addrs = append(addrs, h)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("redis sentinel url: no sentinel addresses (redis-sentinel://HOST:26379,HOST:26379/MASTER)")
	}
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	if path[0] == "" {
		return nil, fmt.Errorf("redis sentinel url: no master name (redis-sentinel://HOST:26379/MASTER)")
	}
	if len(path) > 2 {
		return nil, fmt.Errorf("redis sentinel url: path %q: want /MASTER or /MASTER/DB", u.Path)
	}
	q := u.Query()
	// go-redis's own parser does the options: rebuild its form, where the user info and
	// addr are the sentinels' and username/password the servers'.
	g := url.Values{}
	for k, vs := range q {
		switch k {
		case "sentinel_password", "sentinel_username", "addr", "master_name", "password", "username", "db":
			continue
		}
		g[k] = vs
	}
	g.Set("master_name", path[0])
	if len(path) == 2 {
		if _, err := strconv.Atoi(path[1]); err != nil {
			return nil, fmt.Errorf("redis sentinel url: database %q is not a number", path[1])
		}
		g.Set("db", path[1])
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			g.Set("password", p)
		}
		if name := u.User.Username(); name != "" {
			g.Set("username", name)
		}
	}
	for _, a := range addrs[1:] {
		g.Add("addr", a)
	}
	scheme = "redis"
	if u.Scheme == "rediss-sentinel" {
		scheme = "rediss"
	}
	inner := &url.URL{Scheme: scheme, Host: addrs[0], RawQuery: g.Encode()}
	if q.Has("sentinel_password") || q.Has("sentinel_username") {
		inner.User = url.UserPassword(q.Get("sentinel_username"), q.Get("sentinel_password"))
	}
	opts, err := redis.ParseFailoverURL(inner.String())
	if err != nil {
		return nil, fmt.Errorf("redis sentinel url: %w", err)
	}
	return opts, nil
}
