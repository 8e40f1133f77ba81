package main

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rexian/rexian/config"
)

// k8sObject is the part of a Kubernetes manifest the checks below read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       struct {
		Replicas     int `yaml:"replicas"`
		MinAvailable int `yaml:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		// A Service's selector is the labels themselves.
		Ports []struct {
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	raw map[string]any
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
}

// TestKubernetesManifests parses deploy/kubernetes and checks what a cluster would only
// show at deploy time: the probes name paths a running rexian answers 200 (readiness
// /readyz, liveness /healthz) on the port its REXIAN_ADDR listens on; every variable in
// the ConfigMap and Secrets is a configuration key rexian reads; the Service, the
// PodDisruptionBudget and the Deployments agree on labels and ports; the budget leaves
// pods to drain; and the telephone controllers run two in hot standby (or one with Recreate).
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	objs := map[string][]k8sObject{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(fh)
		for {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var o k8sObject
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := node.Decode(&o.raw); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs[o.Kind] = append(objs[o.Kind], o)
		}
		fh.Close()
	}

	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k.Env] = true
	}
	var addr string
	envSources := map[string]bool{}
	for _, kind := range []string{"ConfigMap", "Secret"} {
		for _, o := range objs[kind] {
			envSources[kind+"/"+o.Metadata.Name] = true
			for k, v := range o.Data {
				if !known[k] {
					t.Errorf("%s %s sets %s, which is no configuration key", kind, o.Metadata.Name, k)
				}
				if k == "REXIAN_ADDR" {
					addr = v
				}
			}
			for k := range o.StringData {
				if !known[k] {
					t.Errorf("%s %s sets %s, which is no configuration key", kind, o.Metadata.Name, k)
				}
			}
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("the ConfigMap's REXIAN_ADDR %q: %v", addr, err)
	}

	// The paths the probes name, asked of a running rexian.
	r := startApp(t, testConfig(t, testEnv(t, "")))
	deployments := map[string]k8sObject{}
	for _, d := range objs["Deployment"] {
		deployments[d.Metadata.Name] = d
		if !mapContains(d.Spec.Template.Metadata.Labels, d.Spec.Selector.MatchLabels) {
			t.Errorf("Deployment %s: its selector %v does not match its pods' labels %v", d.Metadata.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if !slices.Equal(c.Args, []string{"serve"}) {
				t.Errorf("Deployment %s runs %v; want serve", d.Metadata.Name, c.Args)
			}
			ports := map[string]int{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
				if p.Name == "http" && port != "" && port != strconv.Itoa(p.ContainerPort) {
					t.Errorf("Deployment %s: containerPort %d, but REXIAN_ADDR listens on %s", d.Metadata.Name, p.ContainerPort, addr)
				}
			}
			for _, e := range c.Env {
				if !known[e.Name] {
					t.Errorf("Deployment %s sets %s, which is no configuration key", d.Metadata.Name, e.Name)
				}
			}
			for _, ref := range c.EnvFrom {
				switch {
				case ref.ConfigMapRef != nil && !envSources["ConfigMap/"+ref.ConfigMapRef.Name]:
					t.Errorf("Deployment %s reads ConfigMap %s, which is not in the manifests", d.Metadata.Name, ref.ConfigMapRef.Name)
				case ref.SecretRef != nil && !envSources["Secret/"+ref.SecretRef.Name]:
					t.Errorf("Deployment %s reads Secret %s, which no example shows", d.Metadata.Name, ref.SecretRef.Name)
				}
			}
			for _, p := range []struct {
				name  string
				probe *k8sProbe
				want  string
			}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"startup", c.StartupProbe, ""}} {
				if p.probe == nil {
					if p.want != "" {
						t.Errorf("Deployment %s has no %s probe", d.Metadata.Name, p.name)
					}
					continue
				}
				if p.probe.HTTPGet == nil {
					t.Errorf("Deployment %s: %s probe is not an HTTP GET", d.Metadata.Name, p.name)
					continue
				}
				if p.want != "" && p.probe.HTTPGet.Path != p.want {
					t.Errorf("Deployment %s: %s probe GETs %s; want %s", d.Metadata.Name, p.name, p.probe.HTTPGet.Path, p.want)
				}
				if _, ok := ports[p.probe.HTTPGet.Port]; !ok {
					t.Errorf("Deployment %s: %s probe's port %q is no container port", d.Metadata.Name, p.name, p.probe.HTTPGet.Port)
				}
				if code, body := get(t, r.base+p.probe.HTTPGet.Path); code != 200 {
					t.Errorf("Deployment %s: %s probe's %s answers %d %s", d.Metadata.Name, p.name, p.probe.HTTPGet.Path, code, body)
				}
			}
		}
	}
	api, tel := deployments["rexian"], deployments["rexian-telephony"]
	if api.Spec.Replicas < 2 {
		t.Errorf("the API Deployment runs %d replicas; want at least 2", api.Spec.Replicas)
	}
	// Several telephone controllers are safe only in hot standby; one alone must never
	// be doubled by a rollout.
	standby := false
	for _, c := range tel.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			standby = standby || (e.Name == "REXIAN_ARI_STANDBY" && e.Value == "true")
		}
	}
	strategy, _ := tel.raw["spec"].(map[string]any)["strategy"].(map[string]any)
	switch {
	case tel.Spec.Replicas > 1 && !standby:
		t.Errorf("the telephony Deployment runs %d replicas without REXIAN_ARI_STANDBY=true: two controllers would answer the same calls", tel.Spec.Replicas)
	case !standby && strategy["type"] != "Recreate":
		t.Errorf("the telephony Deployment's strategy is %v without the standby; want Recreate, so a rollout never runs two controllers", strategy["type"])
	case standby && tel.Spec.Replicas < 2:
		t.Errorf("the telephony Deployment runs in standby with %d replica; want 2, so one can take over", tel.Spec.Replicas)
	}
	for _, pdb := range objs["PodDisruptionBudget"] {
		if !mapContains(api.Spec.Template.Metadata.Labels, pdb.Spec.Selector.MatchLabels) {
			t.Errorf("PodDisruptionBudget %s selects %v, not the API pods", pdb.Metadata.Name, pdb.Spec.Selector.MatchLabels)
		}
		if pdb.Spec.MinAvailable >= api.Spec.Replicas {
			t.Errorf("PodDisruptionBudget %s keeps %d of %d pods: a drain could never evict one", pdb.Metadata.Name, pdb.Spec.MinAvailable, api.Spec.Replicas)
		}
	}
	if len(objs["PodDisruptionBudget"]) == 0 || len(objs["Service"]) == 0 {
		t.Error("want a PodDisruptionBudget and a Service")
	}
	for _, svc := range objs["Service"] {
		sel := map[string]string{}
		for k, v := range svc.raw["spec"].(map[string]any)["selector"].(map[string]any) {
			sel[k], _ = v.(string)
		}
		for name, d := range deployments {
			if !mapContains(d.Spec.Template.Metadata.Labels, sel) {
				t.Errorf("Service %s does not select Deployment %s's pods", svc.Metadata.Name, name)
			}
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort != "http" {
				t.Errorf("Service %s targets port %q; the pods name theirs http", svc.Metadata.Name, p.TargetPort)
			}
		}
	}
	for _, k := range objs["Kustomization"] {
		for _, res := range k.Resources {
			if _, err := os.Stat(filepath.Join(dir, res)); err != nil {
				t.Errorf("kustomization.yaml lists %s: %v", res, err)
			}
		}
	}
}

func mapContains(m, sub map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}
