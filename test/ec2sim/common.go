package ec2sim

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// newID returns "<prefix>-0<16 hex>" from the state's sequence, scrambled so ids look
// like AWS's and stay unique across restarts (the sequence is persisted).
func (s *Sim) newID(prefix string) string {
	s.st.Seq++
	x := s.st.Seq * 0x9e3779b97f4a7c15
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return fmt.Sprintf("%s-0%016x", prefix, x)
}

func (s *Sim) delay() time.Duration { return s.cfg.Delay.Duration }

// checkID answers <Kind>.Malformed for an id without the resource's prefix.
func checkID(id, prefix, kind string) *apiError {
	if !strings.HasPrefix(id, prefix+"-") || len(id) <= len(prefix)+1 {
		return errf(kind+".Malformed", "Invalid id: %q (expecting %q)", id, prefix+"-...")
	}
	return nil
}

// tagSpec reads the TagSpecification list (key is "TagSpecification" or, for
// CreateTransitGatewayVpcAttachment, "TagSpecifications") for resourceType.
func (s *Sim) tagSpec(p params, key, resourceType string) (map[string]string, *apiError) {
	tags := map[string]string{}
	for _, spec := range p.structs(key) {
		rt := spec.str("ResourceType")
		if rt != resourceType {
			return nil, errf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		for _, t := range spec.structs("Tag") {
			k := t.str("Key")
			if aerr := validTag(k, t.str("Value")); aerr != nil {
				return nil, aerr
			}
			tags[k] = t.str("Value")
		}
	}
	if len(tags) > s.cfg.Quotas.TagsPerResource {
		return nil, errf("TagLimitExceeded", "The maximum number of tags for a resource (%d) has been reached.", s.cfg.Quotas.TagsPerResource)
	}
	return tags, nil
}

func validTag(k, v string) *apiError {
	switch {
	case k == "":
		return errf("InvalidParameterValue", "Tag key must not be empty")
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return errf("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
	case len(k) > 128:
		return errf("InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
	case len(v) > 256:
		return errf("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
	}
	return nil
}

type filter struct {
	Name   string
	Values []string
}

func (p params) filters() ([]filter, *apiError) {
	var out []filter
	for _, f := range p.structs("Filter") {
		name := f.str("Name")
		if name == "" {
			return nil, errf("InvalidParameterValue", "The filter name must not be empty")
		}
		vals := f.list("Value")
		if len(vals) == 0 {
			return nil, errf("InvalidParameterValue", "The filter '%s' requires at least one value", name)
		}
		out = append(out, filter{Name: name, Values: vals})
	}
	return out, nil
}

// fields returns the values of a filter name for one resource; ok false means the
// filter name is not supported for this resource type.
type fields func(name string) (values []string, ok bool)

// match applies the filters (AND across filters, OR across values, * and ? wildcards)
// including tag:<key>, tag-key and tag-value.
func match(fs []filter, f fields, tags map[string]string) (bool, *apiError) {
	for _, flt := range fs {
		var have []string
		switch {
		case strings.HasPrefix(flt.Name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(flt.Name, "tag:")]; ok {
				have = []string{v}
			}
		case flt.Name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case flt.Name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			vals, ok := f(flt.Name)
			if !ok {
				return false, errf("InvalidParameterValue", "The filter '%s' is invalid", flt.Name)
			}
			have = vals
		}
		if !anyMatch(flt.Values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, values []string) bool {
	for _, pat := range patterns {
		for _, v := range values {
			if wildcard(pat, v) {
				return true
			}
		}
	}
	return false
}

// wildcard matches EC2 filter values: * is any run of characters (slashes included,
// so "10.0.*" matches "10.0.0.0/16"), ? one character, \ escapes.
func wildcard(pat, v string) bool {
	if pat == "" {
		return v == ""
	}
	switch pat[0] {
	case '*':
		for i := 0; i <= len(v); i++ {
			if wildcard(pat[1:], v[i:]) {
				return true
			}
		}
		return false
	case '?':
		return v != "" && wildcard(pat[1:], v[1:])
	case '\\':
		if len(pat) > 1 {
			pat = pat[1:]
		}
	}
	return v != "" && v[0] == pat[0] && wildcard(pat[1:], v[1:])
}

// page applies MaxResults/NextToken to ids (sorted for a stable order). The token is
// opaque to clients; it encodes the offset and the action so tokens cannot be mixed.
func page(p params, actionName string, ids []string, minMax, maxMax int) ([]string, string, *apiError) {
	sort.Strings(ids)
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		act, off, found := strings.Cut(string(b), ":")
		n, convErr := strconv.Atoi(off)
		if err != nil || !found || act != actionName || convErr != nil || n < 0 || n > len(ids) {
			return nil, "", errf("InvalidPaginationToken", "Invalid pagination token")
		}
		start = n
	}
	limit := len(ids) - start
	if p.has("MaxResults") {
		n, _, aerr := p.int64("MaxResults")
		if aerr != nil {
			return nil, "", aerr
		}
		if n < int64(minMax) || n > int64(maxMax) {
			return nil, "", errf("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d.", n, minMax, maxMax)
		}
		limit = min(limit, int(n))
	}
	end := start + limit
	next := ""
	if end < len(ids) {
		next = base64.RawURLEncoding.EncodeToString([]byte(actionName + ":" + strconv.Itoa(end)))
	}
	return ids[start:end], next, nil
}

// idsOrAll returns the requested ids (each must exist, else notFound) or all ids.
func idsOrAll(requested []string, exists func(string) bool, all func() []string, notFound func(string) *apiError) ([]string, *apiError) {
	if len(requested) == 0 {
		return all(), nil
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range requested {
		if !exists(id) {
			return nil, malformedOr(id, notFound(id))
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// malformedOr answers <Kind>.Malformed for an id of another kind (EC2 checks the
// prefix before looking the id up), else the not-found error.
func malformedOr(id string, notFound *apiError) *apiError {
	if _, code := resourceKind(id); code == notFound.Code {
		return notFound
	}
	code := strings.Replace(notFound.Code, ".NotFound", ".Malformed", 1)
	if code == "InvalidGroup.Malformed" {
		code = "InvalidGroupId.Malformed"
	}
	return errf(code, "Invalid id: %q", id)
}

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func (s *Sim) xmlTags(id string) []xTag {
	m := s.st.Tags[id]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]xTag, 0, len(keys))
	for _, k := range keys {
		out = append(out, xTag{Key: k, Value: m[k]})
	}
	return out
}

func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// query is how one Describe* action selects resources: the ids asked for (each must
// exist) or every visible one, then the filters, then a page.
type query struct {
	action   string // the action name, which scopes its NextTokens
	idsParam string // the request's list of ids, e.g. "VpcId"
	maxMax   int    // the largest MaxResults the action accepts
	ids      []string
	visible  func(id string) bool
	notFound func(id string) *apiError
	fields   func(id string) fields
	// keep, when set, narrows the selection before the filters (e.g. by group name).
	keep func(id string) bool
}

// selectPage runs q against p and returns the page of matching ids and the next token.
func (s *Sim) selectPage(p params, q query) ([]string, string, *apiError) {
	fs, aerr := p.filters()
	if aerr != nil {
		return nil, "", aerr
	}
	all := func() []string {
		var out []string
		for _, id := range q.ids {
			if q.visible(id) {
				out = append(out, id)
			}
		}
		return out
	}
	ids, aerr := idsOrAll(p.list(q.idsParam), q.visible, all, q.notFound)
	if aerr != nil {
		return nil, "", aerr
	}
	var matched []string
	for _, id := range ids {
		if q.keep != nil && !q.keep(id) {
			continue
		}
		ok, aerr := match(fs, q.fields(id), s.st.Tags[id])
		if aerr != nil {
			return nil, "", aerr
		}
		if ok {
			matched = append(matched, id)
		}
	}
	return page(p, q.action, matched, 5, q.maxMax)
}

// present is a visible function for resources that describes show while they exist.
func present[V any](m map[string]*V) func(string) bool {
	return func(id string) bool { return m[id] != nil }
}
