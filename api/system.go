package api

import (
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/container/containertypes"
)

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Builder-Version", "1")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "0")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("OK"))
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "sandbox"},
		Version:       s.SandboxVersion,
		APIVersion:    Version,
		MinAPIVersion: MinVersion,
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernelRelease(),
		Components: []system.ComponentVersion{{Name: "Engine", Version: s.SandboxVersion,
			Details: map[string]string{"ApiVersion": Version, "MinAPIVersion": MinVersion, "Os": "linux", "Arch": goruntime.GOARCH,
				"Note": "sandbox (rootless, daemonless) serving the Docker Engine API " + Version}}},
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.B.PS(true, nil)
	if err != nil {
		return err
	}
	imgs, err := s.B.Images()
	if err != nil {
		return err
	}
	info := system.Info{
		ID:                 "sandbox",
		Containers:         len(rows),
		Images:             len(imgs),
		Driver:             "overlay",
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      "2",
		KernelVersion:      kernelRelease(),
		OperatingSystem:    osName(),
		OSType:             "linux",
		Architecture:       goruntime.GOARCH,
		NCPU:               goruntime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      s.B.StoreRoot(),
		Name:               hostname(),
		ServerVersion:      s.SandboxVersion,
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     &registry.ServiceConfig{IndexConfigs: map[string]*registry.IndexInfo{}},
		SecurityOptions:    []string{"name=seccomp,profile=default", "name=rootless"},
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		Runtimes:           map[string]system.RuntimeWithStatus{},
		DefaultRuntime:     "sandbox",
		Labels:             []string{"sandbox.api-version=" + Version},
	}
	for _, l := range rows {
		row := l.Row
		switch row.State.Status {
		case containertypes.Running:
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
