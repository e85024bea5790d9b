// castle-helm-render renders a Helm chart the way `helm template` (Helm 3.12) does, for CI on
// machines that have Debian's packages but no helm binary and no Go module proxy.
//
// Helm's template semantics are Go's text/template plus sprig's function map plus a handful
// of Helm functions; values are YAML read through sigs.k8s.io/yaml and checked against the
// chart's values.schema.json with gojsonschema. This program links the same libraries at the
// versions Helm 3.12 pins (Debian bookworm: sprig 3.2.3, gojsonschema 1.2.0, sigs.k8s.io/yaml
// 1.3.0) and reproduces what Helm adds around them, each from Helm's documented behaviour:
//
//   - values: the chart's values.yaml, then every --values file merged over it (maps deep, a
//     null deletes the default), then checked against values.schema.json, with Helm's error text;
//   - the render context: .Values, .Release (Name, Namespace, IsInstall, IsUpgrade, Revision,
//     Service), .Chart (Chart.yaml's fields by Helm's Go names), .Capabilities (KubeVersion,
//     APIVersions.Has, HelmVersion), .Files, .Template (Name, BasePath);
//   - functions: sprig's TxtFuncMap without env and expandenv; toYaml, fromYaml, fromYamlArray,
//     toJson, fromJson, fromJsonArray, toToml; include (with Helm's recursion limit), tpl,
//     required and fail (messages wrapped, as Helm prints them), lookup (empty, as in `helm
//     template`, or objects from --lookup to act out an upgrade), getHostByName ("");
//   - rendering: every template of templates/ parsed into one template set, named
//     <chart>/templates/<file>, with missingkey=zero and "<no value>" removed; files starting
//     with "_" are partials; NOTES.txt is rendered apart; parse and execution errors in Helm's
//     "parse error at (...)" / "execution error at (...)" form;
//   - output: documents split on "---", empty ones dropped, each with its apiVersion, kind and
//     metadata.name, ordered by Helm's install order of kinds; `-o yaml` prints the stream
//     `helm template` prints, `-o json` (default) the objects as JSON for validation.
//
// Not covered (the Castle chart uses none): subcharts and dependencies, library charts,
// hooks, CRDs in crds/, .helmignore, --set parsing.
//
// Build (GOPATH mode against Debian's packages; see test/helm-chart.test.ts):
//
//	apt-get install golang-go golang-github-masterminds-sprig-dev \
//	  golang-github-xeipuuv-gojsonschema-dev golang-k8s-sigs-yaml-dev golang-github-burntsushi-toml-dev
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o castle-helm-render ./deploy/render
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// Helm 3.12's defaults for `helm template` without a cluster.
const (
	helmVersion      = "v3.12.3"
	kubeVersionMajor = "1"
	kubeVersionMinor = "27"
	// includeDepthMax is how deep one template may include itself before rendering fails.
	includeDepthMax = 1000
	errStart        = "HELM_ERR_START"
	errEnd          = "HELM_ERR_END"
	notesFile       = "NOTES.txt"
)

// installOrder is Helm's order of kinds for installing; unknown kinds go last, by name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

// builtinAPIVersions is what .Capabilities.APIVersions has without --api-versions: the
// built-in group/versions of Kubernetes 1.27.
var builtinAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1beta3", "networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1",
	"rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// Values is the type of .Values and of the whole render context, as chartutil.Values is in Helm.
type Values map[string]interface{}

// AsMap is the plain map, for templates that call .Values.AsMap.
func (v Values) AsMap() map[string]interface{} { return v }

// YAML is the values as YAML, for templates that call .Values.YAML.
func (v Values) YAML() (string, error) {
	b, err := yaml.Marshal(v)
	return string(b), err
}

// Maintainer and Metadata are Chart.yaml under the Go names templates use (.Chart.AppVersion).
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type Dependency struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Repository string `json:"repository"`
}

type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

// chartMeta is .Chart: the metadata plus IsRoot, as Helm's engine gives it.
type chartMeta struct {
	Metadata
	IsRoot bool
}

type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k *KubeVersion) String() string     { return k.Version }
func (k *KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions: "group/version" and "group/version/Kind" entries.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type HelmBuildInfo struct {
	Version      string `json:"version,omitempty"`
	GitCommit    string `json:"git_commit,omitempty"`
	GitTreeState string `json:"git_tree_state,omitempty"`
	GoVersion    string `json:"go_version,omitempty"`
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmBuildInfo
}

// Files is .Files: the chart's files outside templates/, by path relative to the chart.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob is the files whose path matches pattern (path.Match), as Files.
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// AsConfig and AsSecrets are the files as a ConfigMap's data and a Secret's data (base64), in YAML.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

type chart struct {
	meta      Metadata
	values    map[string]interface{}
	schema    []byte
	templates map[string]string // "templates/x.yaml" -> text
	files     Files
}

func loadChart(dir string) (*chart, error) {
	c := &chart{values: map[string]interface{}{}, templates: map[string]string{}, files: Files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml file is missing: %w", err)
	}
	if err := yaml.Unmarshal(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %w", err)
	}
	if err := validateMetadata(&c.meta); err != nil {
		return nil, fmt.Errorf("validation: chart.metadata.%w", err)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if err := yaml.Unmarshal(raw, &c.values); err != nil {
			return nil, fmt.Errorf("cannot load values.yaml: %w", err)
		}
		if c.values == nil {
			c.values = map[string]interface{}{}
		}
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		c.schema = raw
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" || rel == ".helmignore":
		case strings.HasPrefix(rel, "charts/") || strings.HasPrefix(rel, "crds/"):
			return fmt.Errorf("%s: subcharts and CRDs are not supported by this renderer", rel)
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// validateMetadata applies the checks `helm lint` and the loader apply to Chart.yaml.
func validateMetadata(m *Metadata) error {
	if m.APIVersion == "" {
		return errors.New("apiVersion is required")
	}
	if m.APIVersion != "v1" && m.APIVersion != "v2" {
		return fmt.Errorf("apiVersion %q is not valid (v1 or v2)", m.APIVersion)
	}
	if m.Name == "" {
		return errors.New("name is required")
	}
	if m.Name != filepath.Base(m.Name) {
		return fmt.Errorf("name %q is invalid", m.Name)
	}
	if m.Version == "" {
		return errors.New("version is required")
	}
	if _, err := semver.StrictNewVersion(m.Version); err != nil {
		return fmt.Errorf("version %q is invalid", m.Version)
	}
	if m.Type != "" && m.Type != "application" && m.Type != "library" {
		return errors.New("type must be application or library")
	}
	if m.Type == "library" {
		return errors.New("type library is not supported by this renderer")
	}
	return nil
}

// mergeMaps is how Helm merges several --values files: later wins, maps merge deeply.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bv, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays the user's values over the chart's defaults, as chartutil.CoalesceValues does:
// the user's value wins, maps merge deeply, and a user's null removes the key altogether.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(user)+len(defaults))
	for k, v := range user {
		out[k] = v
	}
	for k, dv := range defaults {
		uv, present := out[k]
		switch {
		case !present:
			out[k] = deepCopy(dv)
		case uv == nil:
			delete(out, k)
		default:
			um, uok := uv.(map[string]interface{})
			dm, dok := dv.(map[string]interface{})
			if uok && dok {
				out[k] = coalesce(um, dm)
			} else if uok != dok && dv != nil {
				fmt.Fprintf(os.Stderr, "coalesce.go: warning: cannot overwrite table with non table for %s (%v)\n", k, dv)
			}
		}
	}
	// A null the user set for a key without a default is dropped too.
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []interface{}:
		s := make([]interface{}, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	default:
		return v
	}
}

// validateValues checks values against values.schema.json and words a failure as Helm does.
func validateValues(chartName string, values map[string]interface{}, schema []byte) error {
	if schema == nil {
		return nil
	}
	y, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	if bytes.Equal(j, []byte("null")) {
		j = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(j))
	if err != nil {
		return err
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	for _, e := range result.Errors() {
		fmt.Fprintf(&sb, "- %s\n", e)
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s", chartName, sb.String())
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func toTOML(v interface{}) string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(v); err != nil {
		return err.Error()
	}
	return b.String()
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// lookupFunc answers lookup(apiVersion, kind, namespace, name) from known objects: one object
// (or an empty map), or for name "" a list {"items": [...]}, as Helm's does against a cluster.
func lookupFunc(objects []map[string]interface{}) func(string, string, string, string) (map[string]interface{}, error) {
	return func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		items := []interface{}{}
		for _, o := range objects {
			meta, _ := o["metadata"].(map[string]interface{})
			if o["apiVersion"] != apiVersion || o["kind"] != kind {
				continue
			}
			if namespace != "" && meta["namespace"] != namespace {
				continue
			}
			if name == "" {
				items = append(items, deepCopy(o))
			} else if meta["name"] == name {
				return deepCopy(o).(map[string]interface{}), nil
			}
		}
		if name == "" {
			return map[string]interface{}{"apiVersion": apiVersion, "kind": kind + "List", "items": items}, nil
		}
		return map[string]interface{}{}, nil
	}
}

type renderable struct {
	text     string
	vals     Values
	basePath string
}

type engine struct {
	lookup func(string, string, string, string) (map[string]interface{}, error)
}

var errWrapped = regexp.MustCompile(errStart + `((?s).*)` + errEnd)

func (e *engine) funcs(t *template.Template, references map[string]renderable) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toToml"] = toTOML
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["lookup"] = e.lookup
	f["getHostByName"] = func(string) string { return "" }
	depth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth[name] > includeDepthMax {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var b strings.Builder
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	f["tpl"] = func(text string, vals Values) (string, error) {
		tplInfo, _ := vals["Template"].(Values)
		name, _ := tplInfo["Name"].(string)
		basePath, _ := tplInfo["BasePath"].(string)
		if name == "" {
			return "", fmt.Errorf("cannot retrieve Template.Name from values inside tpl function: %s", text)
		}
		out, err := e.render(map[string]renderable{name: {text: text, vals: vals, basePath: basePath}}, references)
		if err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return out[name], nil
	}
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(errStart + msg + errEnd)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(errStart + msg + errEnd)
		}
		return val, nil
	}
	f["fail"] = func(msg string) (string, error) {
		return "", errors.New(errStart + msg + errEnd)
	}
	return f
}

// byDepth orders template names as Helm parses them: more path segments first, then by name
// descending (a later definition of the same name wins).
func byDepth(m map[string]renderable) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := strings.Count(keys[i], "/"), strings.Count(keys[j], "/")
		if ci != cj {
			return ci > cj
		}
		return keys[i] > keys[j]
	})
	return keys
}

func (e *engine) render(tpls, references map[string]renderable) (out map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl").Option("missingkey=zero")
	t.Funcs(e.funcs(t, references))
	for _, name := range byDepth(tpls) {
		if _, err := t.New(name).Parse(tpls[name].text); err != nil {
			return nil, parseError(name, err)
		}
	}
	for _, name := range byDepth(references) {
		if t.Lookup(name) == nil {
			if _, err := t.New(name).Parse(references[name].text); err != nil {
				return nil, parseError(name, err)
			}
		}
	}
	out = map[string]string{}
	for _, name := range byDepth(tpls) {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		r := tpls[name]
		r.vals["Template"] = Values{"Name": name, "BasePath": r.basePath}
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, name, r.vals); err != nil {
			return nil, execError(name, err)
		}
		out[name] = strings.ReplaceAll(b.String(), "<no value>", "")
	}
	return out, nil
}

func parseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func execError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if m := errWrapped.FindStringSubmatch(tokens[2]); len(m) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], m[1])
	}
	return err
}

// manifest is one rendered document.
type manifest struct {
	Source     string                 `json:"source"`
	APIVersion string                 `json:"apiVersion"`
	Kind       string                 `json:"kind"`
	Name       string                 `json:"name"`
	YAML       string                 `json:"yaml"`
	Object     map[string]interface{} `json:"object"`
}

var docSeparator = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

// splitManifests turns the rendered files into documents in install order. A document that is
// not a YAML map, has a key twice or lacks kind/apiVersion fails, naming its template.
func splitManifests(files map[string]string) ([]manifest, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []manifest
	for _, name := range names {
		content := strings.TrimSpace(files[name])
		if content == "" {
			continue
		}
		for _, doc := range docSeparator.Split(content, -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" || strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			// Strict: a key given twice is refused, as the API server's strict field validation does.
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			var obj map[string]interface{}
			if err := json.Unmarshal(j, &obj); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: not a map: %w", name, err)
			}
			if obj == nil {
				continue
			}
			kind, _ := obj["kind"].(string)
			apiVersion, _ := obj["apiVersion"].(string)
			meta, _ := obj["metadata"].(map[string]interface{})
			objName, _ := meta["name"].(string)
			if kind == "" || apiVersion == "" {
				return nil, fmt.Errorf("%s: a document without apiVersion or kind", name)
			}
			out = append(out, manifest{Source: name, APIVersion: apiVersion, Kind: kind, Name: objName, YAML: doc, Object: obj})
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, iok := rank[out[i].Kind]
		rj, jok := rank[out[j].Kind]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		default:
			return out[i].Kind < out[j].Kind
		}
	})
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
	return b.String()
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

type result struct {
	Manifests []manifest `json:"manifests"`
	Notes     string     `json:"notes"`
}

func run() error {
	var valueFiles, apiVersions multiFlag
	chartDir := flag.String("chart", "", "the chart's directory")
	release := flag.String("release", "release-name", "release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "release namespace (.Release.Namespace)")
	upgrade := flag.Bool("is-upgrade", false, ".Release.IsUpgrade (and not IsInstall)")
	revision := flag.Int("revision", 1, ".Release.Revision")
	kubeVersion := flag.String("kube-version", "v"+kubeVersionMajor+"."+kubeVersionMinor+".0", ".Capabilities.KubeVersion")
	lookupFile := flag.String("lookup", "", "JSON list of objects the lookup function finds (as if in the cluster)")
	output := flag.String("o", "json", "json: the objects and notes; yaml: the stream `helm template` prints")
	flag.Var(&valueFiles, "values", "a values file (repeatable; later ones win)")
	flag.Var(&apiVersions, "api-versions", "an extra .Capabilities.APIVersions entry (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		return errors.New("--chart DIR is required")
	}
	c, err := loadChart(*chartDir)
	if err != nil {
		return err
	}

	user := map[string]interface{}{}
	for _, file := range valueFiles {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(raw, &current); err != nil {
			return fmt.Errorf("failed to parse %s: %w", file, err)
		}
		user = mergeMaps(user, current)
	}
	values := coalesce(user, c.values)
	if err := validateValues(c.meta.Name, values, c.schema); err != nil {
		return err
	}

	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		return fmt.Errorf("invalid --kube-version %q: %w", *kubeVersion, err)
	}
	if c.meta.KubeVersion != "" {
		constraint, err := semver.NewConstraint(c.meta.KubeVersion)
		if err != nil || !constraint.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.meta.KubeVersion, *kubeVersion)
		}
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + kv.String(), Major: strconv.FormatUint(kv.Major(), 10), Minor: strconv.FormatUint(kv.Minor(), 10)},
		APIVersions: append(append(VersionSet{}, builtinAPIVersions...), apiVersions...),
		HelmVersion: HelmBuildInfo{Version: helmVersion, GitTreeState: "clean", GoVersion: runtime.Version()},
	}
	var objects []map[string]interface{}
	if *lookupFile != "" {
		raw, err := os.ReadFile(*lookupFile)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &objects); err != nil {
			return fmt.Errorf("%s: %w", *lookupFile, err)
		}
	}

	top := Values{
		"Chart":        chartMeta{c.meta, true},
		"Capabilities": caps,
		"Release": map[string]interface{}{
			"Name": *release, "Namespace": *namespace, "IsUpgrade": *upgrade, "IsInstall": !*upgrade,
			"Revision": *revision, "Service": "Helm",
		},
		"Values":    Values(values),
		"Files":     c.files,
		"Subcharts": map[string]interface{}{},
	}
	tpls := map[string]renderable{}
	for name, text := range c.templates {
		tpls[path.Join(c.meta.Name, name)] = renderable{text: text, vals: top, basePath: path.Join(c.meta.Name, "templates")}
	}
	e := &engine{lookup: lookupFunc(objects)}
	files, err := e.render(tpls, tpls)
	if err != nil {
		return err
	}
	notes := files[path.Join(c.meta.Name, "templates", notesFile)]
	for name := range files {
		if strings.HasSuffix(name, notesFile) {
			delete(files, name)
		}
	}
	manifests, err := splitManifests(files)
	if err != nil {
		return err
	}
	if *output == "yaml" {
		for _, m := range manifests {
			fmt.Printf("---\n# Source: %s\n%s\n", m.Source, m.YAML)
		}
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(result{Manifests: manifests, Notes: notes})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}
