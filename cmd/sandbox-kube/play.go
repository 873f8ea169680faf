package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sandbox-dev/sandbox/kube"
)

// doc is one YAML document: its node (for line numbers) and its bytes
// (for strict decoding into the API types).
type doc struct {
	node  *yamlv3.Node
	raw   []byte
	index int
	meta  metav1.TypeMeta
	name  string
}

// play reads Pods, Deployments, Jobs and ConfigMaps from YAML documents
// and says how to run them here: docs/kube.md has the mapping.
func play(in []byte) (kube.Plan, error) {
	docs, err := splitDocs(in)
	if err != nil {
		return kube.Plan{}, err
	}
	var plan kube.Plan
	maps := map[string]map[string]string{}
	for _, d := range docs {
		if d.meta.Kind != "ConfigMap" {
			continue
		}
		var cm corev1.ConfigMap
		if err := strictDecode(d, &cm, configMapFields); err != nil {
			return kube.Plan{}, err
		}
		maps[cm.Name] = cm.Data
		plan.Unsupported = append(plan.Unsupported, unsupported(d, configMapFields)...)
	}
	for _, d := range docs {
		var p kube.Pod
		var spec corev1.PodSpec
		var annotations map[string]string
		switch d.meta.Kind {
		case "ConfigMap":
			continue
		case "Pod":
			var o corev1.Pod
			if err := strictDecode(d, &o, podFields(d.meta.Kind)); err != nil {
				return kube.Plan{}, err
			}
			p, spec, annotations = kube.Pod{Name: o.Name, Kind: "pod"}, o.Spec, o.Annotations
			p.Restart = restartFrom(spec.RestartPolicy, "always")
		case "Deployment":
			var o appsv1.Deployment
			if err := strictDecode(d, &o, podFields(d.meta.Kind)); err != nil {
				return kube.Plan{}, err
			}
			p, spec, annotations = kube.Pod{Name: o.Name, Kind: "deployment", Restart: "always"}, o.Spec.Template.Spec, o.Spec.Template.Annotations
			if o.Spec.Replicas != nil && *o.Spec.Replicas != 1 {
				plan.Unsupported = append(plan.Unsupported, kube.Unsupported{Line: lineOf(d.node, "spec.replicas"), Field: "spec.replicas",
					Object: objectName(d), Why: fmt.Sprintf("one replica runs here, not %d", *o.Spec.Replicas)})
			}
		case "Job":
			var o batchv1.Job
			if err := strictDecode(d, &o, podFields(d.meta.Kind)); err != nil {
				return kube.Plan{}, err
			}
			p, spec, annotations = kube.Pod{Name: o.Name, Kind: "job"}, o.Spec.Template.Spec, o.Spec.Template.Annotations
			p.Restart = restartFrom(spec.RestartPolicy, "no")
		default:
			return kube.Plan{}, fmt.Errorf("document %d: kind %q: kube play runs Pod, Deployment and Job, with ConfigMaps", d.index, d.meta.Kind)
		}
		if p.Name == "" {
			return kube.Plan{}, fmt.Errorf("document %d (%s): metadata.name is missing", d.index, d.meta.Kind)
		}
		if err := fillPod(&p, spec, maps); err != nil {
			return kube.Plan{}, fmt.Errorf("%s: %w", objectName(d), err)
		}
		readAnnotations(&p, annotations)
		plan.Pods = append(plan.Pods, p)
		plan.Unsupported = append(plan.Unsupported, unsupported(d, podFields(d.meta.Kind))...)
	}
	if len(plan.Pods) == 0 {
		return kube.Plan{}, errors.New("no Pod, Deployment or Job in the YAML")
	}
	return plan, nil
}

// readAnnotations takes back the limits generate kept as annotations.
func readAnnotations(p *kube.Pod, ann map[string]string) {
	for i := range p.Containers {
		c := &p.Containers[i]
		if n, err := strconv.ParseInt(ann[pidsAnnotation+c.Name], 10, 64); err == nil {
			c.Pids = n
		}
		if n, err := strconv.ParseInt(ann[swapAnnotation+c.Name], 10, 64); err == nil {
			c.MemorySwap = n
		}
		if d := ann[devicesAnnotation+c.Name]; d != "" {
			c.Devices = strings.Split(d, ",")
		}
	}
}

func splitDocs(in []byte) ([]doc, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(in))
	var docs []doc
	for i := 1; ; i++ {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yamlv3.MappingNode {
			continue // an empty document, or a comment alone
		}
		raw, err := yamlv3.Marshal(&n)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		d := doc{node: n.Content[0], raw: raw, index: i}
		var probe struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct{ Name string } `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		d.meta, d.name = probe.TypeMeta, probe.Metadata.Name
		docs = append(docs, d)
	}
	return docs, nil
}

// strictDecode decodes d into v, refusing fields the API does not have;
// such a field is named with its line, found among those the allow-list
// does not take.
func strictDecode(d doc, v any, allowed []string) error {
	err := yaml.UnmarshalStrict(d.raw, v)
	if err == nil {
		return nil
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		for _, u := range unsupported(d, allowed) {
			if strings.HasSuffix(u.Field, "."+m[1]) || u.Field == m[1] {
				return fmt.Errorf("document %d (%s): line %d: %s: unknown field (a misspelling?)", d.index, objectName(d), u.Line, u.Field)
			}
		}
	}
	return fmt.Errorf("document %d (%s): %w", d.index, objectName(d), err)
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

func objectName(d doc) string { return d.meta.Kind + "/" + d.name }

func restartFrom(p corev1.RestartPolicy, unset string) string {
	switch p {
	case corev1.RestartPolicyNever:
		return "no"
	case corev1.RestartPolicyOnFailure:
		return "on-failure"
	case corev1.RestartPolicyAlways:
		return "always"
	}
	return unset
}

// fillPod sets p from a pod spec, with the ConfigMaps of the same YAML.
func fillPod(p *kube.Pod, spec corev1.PodSpec, maps map[string]map[string]string) error {
	p.Network = "slirp" // the pod's own network, as in a cluster
	if spec.HostNetwork {
		p.Network = "host"
	}
	p.Hostname = spec.Hostname
	for _, h := range spec.HostAliases {
		for _, name := range h.Hostnames {
			p.AddHosts = append(p.AddHosts, name+":"+h.IP)
		}
	}
	if spec.DNSConfig != nil {
		p.DNS = spec.DNSConfig.Nameservers
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, k := range spec.Containers {
		c := kube.Container{Name: k.Name, Image: k.Image, Command: k.Command, CommandSet: len(k.Command) > 0,
			Args: k.Args, Workdir: k.WorkingDir}
		if spec.TerminationGracePeriodSeconds != nil {
			t := int(*spec.TerminationGracePeriodSeconds)
			c.StopTimeout = &t
		}
		for _, from := range k.EnvFrom {
			if from.ConfigMapRef == nil {
				continue
			}
			data, ok := maps[from.ConfigMapRef.Name]
			if !ok && !(from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional) {
				return fmt.Errorf("container %s: envFrom names ConfigMap %q, which the YAML does not have", k.Name, from.ConfigMapRef.Name)
			}
			for _, key := range sortedKeys(data) {
				c.Env = append(c.Env, kube.EnvVar{Name: from.Prefix + key, Value: data[key]})
			}
		}
		for _, e := range k.Env {
			v := e.Value
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				ref := e.ValueFrom.ConfigMapKeyRef
				val, ok := maps[ref.Name][ref.Key]
				if !ok && !(ref.Optional != nil && *ref.Optional) {
					return fmt.Errorf("container %s: env %s takes key %q of ConfigMap %q, which the YAML does not have", k.Name, e.Name, ref.Key, ref.Name)
				}
				if !ok {
					continue
				}
				v = val
			}
			c.Env = append(c.Env, kube.EnvVar{Name: e.Name, Value: v})
		}
		for _, pt := range k.Ports {
			c.Ports = append(c.Ports, kube.Port{ContainerPort: int(pt.ContainerPort), HostPort: int(pt.HostPort), HostIP: pt.HostIP, Protocol: strings.ToLower(string(pt.Protocol))})
		}
		for _, m := range k.VolumeMounts {
			v, ok := vols[m.Name]
			if !ok {
				return fmt.Errorf("container %s: volumeMount %q names no volume of the pod", k.Name, m.Name)
			}
			mount, err := mountFrom(v, m, maps)
			if err != nil {
				return fmt.Errorf("container %s: volume %s: %w", k.Name, m.Name, err)
			}
			c.Mounts = append(c.Mounts, mount)
		}
		if q, ok := k.Resources.Limits[corev1.ResourceMemory]; ok {
			c.Memory = q.Value()
		}
		if q, ok := k.Resources.Limits[corev1.ResourceCPU]; ok {
			c.CPUs = float64(q.MilliValue()) / 1000
		}
		if sc := k.SecurityContext; sc != nil {
			if sc.Capabilities != nil {
				for _, cp := range sc.Capabilities.Add {
					c.CapAdd = append(c.CapAdd, string(cp))
				}
				for _, cp := range sc.Capabilities.Drop {
					c.CapDrop = append(c.CapDrop, string(cp))
				}
			}
			if sc.AllowPrivilegeEscalation != nil {
				nnp := !*sc.AllowPrivilegeEscalation
				c.NoNewPrivileges = &nnp
			}
			c.ReadOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
			if sc.RunAsUser != nil {
				c.User = strconv.FormatInt(*sc.RunAsUser, 10)
				if sc.RunAsGroup != nil {
					c.User += ":" + strconv.FormatInt(*sc.RunAsGroup, 10)
				}
			}
			if sp := sc.SeccompProfile; sp != nil {
				switch sp.Type {
				case corev1.SeccompProfileTypeUnconfined:
					c.Seccomp = "unconfined"
				case corev1.SeccompProfileTypeLocalhost:
					if sp.LocalhostProfile != nil {
						c.Seccomp = *sp.LocalhostProfile
					}
				default:
					c.Seccomp = "default"
				}
			}
		}
		p.Containers = append(p.Containers, c)
	}
	return nil
}

func mountFrom(v corev1.Volume, m corev1.VolumeMount, maps map[string]map[string]string) (kube.Mount, error) {
	out := kube.Mount{Target: m.MountPath, ReadOnly: m.ReadOnly, Volume: v.Name}
	switch {
	case v.HostPath != nil:
		out.Type, out.Source = "bind", v.HostPath.Path
	case v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory:
		out.Type = "tmpfs"
		if v.EmptyDir.SizeLimit != nil {
			out.Size = v.EmptyDir.SizeLimit.Value()
		}
	case v.EmptyDir != nil:
		out.Type = "dir"
	case v.PersistentVolumeClaim != nil:
		// A claim is a named volume of that name, made on first use.
		out.Type, out.Source = "volume", v.PersistentVolumeClaim.ClaimName
		out.ReadOnly = out.ReadOnly || v.PersistentVolumeClaim.ReadOnly
	case v.ConfigMap != nil:
		data, ok := maps[v.ConfigMap.Name]
		if !ok {
			return out, fmt.Errorf("ConfigMap %q is not in the YAML", v.ConfigMap.Name)
		}
		out.Type, out.Files = "files", map[string]string{}
		if len(v.ConfigMap.Items) == 0 {
			for k, val := range data {
				out.Files[k] = val
			}
		}
		for _, it := range v.ConfigMap.Items {
			val, ok := data[it.Key]
			if !ok {
				return out, fmt.Errorf("ConfigMap %q has no key %q", v.ConfigMap.Name, it.Key)
			}
			out.Files[it.Path] = val
		}
	default:
		return out, errors.New("only hostPath, emptyDir, configMap and persistentVolumeClaim volumes run here")
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// The fields kube play honours, by path; "x.*" takes everything under x,
// "[]" is any item of a list. Anything else that is set is listed as
// unsupported, with its line.
var (
	objectFields = []string{"apiVersion", "kind", "metadata", "metadata.name", "metadata.labels.*",
		"metadata.annotations.*", "metadata.creationTimestamp", "status.*"}
	configMapFields = append([]string{"data.*"}, objectFields...)
	podSpecFields   = []string{
		"containers", "containers[]", "containers[].name", "containers[].image", "containers[].command", "containers[].args",
		"containers[].workingDir", "containers[].env", "containers[].env[]", "containers[].env[].name", "containers[].env[].value",
		"containers[].env[].valueFrom", "containers[].env[].valueFrom.configMapKeyRef.*",
		"containers[].envFrom", "containers[].envFrom[]", "containers[].envFrom[].prefix", "containers[].envFrom[].configMapRef.*",
		"containers[].ports", "containers[].ports[]", "containers[].ports[].containerPort", "containers[].ports[].hostPort",
		"containers[].ports[].hostIP", "containers[].ports[].protocol", "containers[].ports[].name",
		"containers[].volumeMounts", "containers[].volumeMounts[]", "containers[].volumeMounts[].name",
		"containers[].volumeMounts[].mountPath", "containers[].volumeMounts[].readOnly",
		"containers[].resources", "containers[].resources.limits", "containers[].resources.limits.memory", "containers[].resources.limits.cpu",
		"containers[].securityContext", "containers[].securityContext.capabilities.*", "containers[].securityContext.allowPrivilegeEscalation",
		"containers[].securityContext.readOnlyRootFilesystem", "containers[].securityContext.runAsUser", "containers[].securityContext.runAsGroup",
		"containers[].securityContext.seccompProfile.*", "containers[].imagePullPolicy",
		"volumes", "volumes[]", "volumes[].name", "volumes[].hostPath", "volumes[].hostPath.path", "volumes[].emptyDir.*",
		"volumes[].configMap", "volumes[].configMap.name", "volumes[].configMap.items.*",
		"volumes[].persistentVolumeClaim", "volumes[].persistentVolumeClaim.claimName", "volumes[].persistentVolumeClaim.readOnly",
		"restartPolicy", "hostname", "hostNetwork", "hostAliases.*", "terminationGracePeriodSeconds", "dnsPolicy", "dnsConfig", "dnsConfig.nameservers",
	}
)

func podFields(kind string) []string {
	fields := append([]string{}, objectFields...)
	prefix := "spec."
	switch kind {
	case "Deployment":
		fields = append(fields, "spec", "spec.replicas", "spec.selector.*", "spec.template", "spec.template.metadata.*", "spec.template.spec")
		prefix = "spec.template.spec."
	case "Job":
		fields = append(fields, "spec", "spec.template", "spec.template.metadata.*", "spec.template.spec")
		prefix = "spec.template.spec."
	default:
		fields = append(fields, "spec")
	}
	for _, f := range podSpecFields {
		fields = append(fields, prefix+f)
	}
	return fields
}

// unsupported lists the fields of d that are set and not among allowed.
func unsupported(d doc, allowed []string) []kube.Unsupported {
	exact, below := map[string]bool{}, map[string]bool{}
	for _, f := range allowed {
		if p, ok := strings.CutSuffix(f, ".*"); ok {
			below[p] = true
			exact[p] = true
		} else {
			exact[f] = true
		}
	}
	var out []kube.Unsupported
	var walk func(n *yamlv3.Node, path string)
	walk = func(n *yamlv3.Node, path string) {
		switch n.Kind {
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				switch {
				case below[p]:
				case exact[p]:
					walk(v, p)
				case !empty(v):
					out = append(out, kube.Unsupported{Line: k.Line, Field: p, Object: objectName(d)})
				}
			}
		case yamlv3.SequenceNode:
			for _, item := range n.Content {
				walk(item, path+"[]")
			}
		}
	}
	walk(d.node, "")
	return out
}

// empty is a value that asks for nothing: null, {}, [] or "".
func empty(n *yamlv3.Node) bool {
	switch n.Kind {
	case yamlv3.MappingNode, yamlv3.SequenceNode:
		return len(n.Content) == 0
	case yamlv3.ScalarNode:
		return n.Tag == "!!null" || n.Value == ""
	}
	return false
}

// lineOf is the line of the value at a dotted path of mapping keys.
func lineOf(n *yamlv3.Node, path string) int {
	for _, key := range strings.Split(path, ".") {
		found := false
		for i := 0; n.Kind == yamlv3.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return 0
		}
	}
	return n.Line
}
