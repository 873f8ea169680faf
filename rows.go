package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// What list commands print, one struct per command, with Docker's field
// names: the default table and --format templates read the same rows.

// psRow is a line of `ps`.
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Status, State, Ports, Names, PodName string
}

var psColumns = format.Columns{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES",
	"PodName": "PODNAME",
}

const (
	psTable = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`
	// psPodTable is `ps --pod`'s, as Podman's adds the pod's name.
	psPodTable = psTable + `\t{{.PodName}}`
)

func psRows(rows []container.Row) []psRow {
	out := make([]psRow, 0, len(rows))
	for _, r := range rows {
		cmd := strings.Join(r.Command, " ")
		if len(cmd) > 20 {
			cmd = cmd[:17] + "..."
		}
		out = append(out, psRow{
			ID: r.ID[:12], Image: r.Image, Command: fmt.Sprintf("%q", cmd),
			CreatedAt: r.Created.Local().Format(timeLayout), RunningFor: format.Ago(r.Created),
			Status: statusText(r.State, r.Health), State: string(r.State.Status), Ports: strings.Join(r.Ports, ", "), Names: r.Name, PodName: r.Pod,
		})
	}
	return out
}

// statusText is docker's STATUS column.
func statusText(st container.State, health string) string {
	switch st.Status {
	case container.Running:
		up := "Up " + format.Duration(time.Since(st.StartedAt))
		switch health {
		case "":
		case runtime.HealthStarting:
			up += " (health: starting)"
		default:
			up += " (" + health + ")"
		}
		return up
	case container.Exited:
		if st.Restarting {
			return fmt.Sprintf("Restarting (%d) %s", st.ExitCode, format.Ago(st.FinishedAt))
		}
		return fmt.Sprintf("Exited (%d) %s", st.ExitCode, format.Ago(st.FinishedAt))
	}
	return "Created"
}

// imageRow is a line of `images`.
type imageRow struct {
	Repository, Tag, Digest, ID, CreatedSince, CreatedAt, Size string
}

var imageColumns = format.Columns{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
}

const (
	imagesTable        = `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`
	imagesDigestsTable = `table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`
)

func imageRows(list []image.Summary) []imageRow {
	out := make([]imageRow, 0, len(list))
	for _, r := range list {
		out = append(out, imageRow{
			Repository: r.Repository, Tag: r.Tag, Digest: r.Digest, ID: image.ShortID(r.ID),
			CreatedSince: format.Ago(r.Created), CreatedAt: r.Created.Local().Format(timeLayout),
			Size: format.Size(r.Size),
		})
	}
	return out
}

// statsRow is a line of `stats`.
type statsRow struct {
	ID, Container, Name, CPUPerc, MemUsage, MemPerc, PIDs, BlockIO string
}

var statsColumns = format.Columns{
	"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
	"MemPerc": "MEM %", "PIDs": "PIDS", "BlockIO": "BLOCK I/O",
}

const statsTable = `table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.PIDs}}\t{{.BlockIO}}`

func statsRows(rows []container.Stats) []statsRow {
	out := make([]statsRow, 0, len(rows))
	for _, r := range rows {
		row := statsRow{ID: r.ID[:12], Container: r.ID[:12], Name: r.Name}
		if r.NoCgroup {
			// Nothing can be measured without a cgroup of its own.
			row.CPUPerc, row.MemUsage, row.MemPerc, row.PIDs, row.BlockIO = "--", "-- / --", "--", "--", "--"
			out = append(out, row)
			continue
		}
		memPct := 0.0
		if r.MemoryLimit > 0 {
			memPct = float64(r.MemoryUsage) / float64(r.MemoryLimit) * 100
		}
		row.CPUPerc = fmt.Sprintf("%.2f%%", r.CPUPercent)
		row.MemUsage = binarySize(r.MemoryUsage) + " / " + binarySize(r.MemoryLimit)
		row.MemPerc = fmt.Sprintf("%.2f%%", memPct)
		row.PIDs = fmt.Sprint(r.Pids)
		if r.PidsLimit > 0 {
			row.PIDs += fmt.Sprintf(" / %d", r.PidsLimit)
		}
		row.BlockIO = binarySize(r.BlockRead) + " / " + binarySize(r.BlockWrite)
		out = append(out, row)
	}
	return out
}

// binarySize is a size in binary units, as stats shows them ("64MiB").
func binarySize(n uint64) string { return config.FormatBytes(int64(n)) }

// historyRow is a line of `history`.
type historyRow struct {
	ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string
}

var historyColumns = format.Columns{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

const historyTable = `table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}`

func historyRows(rows []image.HistoryRow) []historyRow {
	out := make([]historyRow, 0, len(rows))
	for _, r := range rows {
		id := r.ID
		if id != "<missing>" {
			id = image.ShortID(id)
		}
		by := r.CreatedBy
		if len(by) > 45 {
			by = by[:42] + "..."
		}
		out = append(out, historyRow{ID: id, CreatedSince: format.Ago(r.Created), CreatedAt: r.Created.Local().Format(timeLayout),
			CreatedBy: by, Size: format.Size(r.Size), Comment: r.Comment})
	}
	return out
}

// dfRow is a line of `system df`.
type dfRow struct {
	Type               string
	TotalCount, Active int
	Size, Shared       string
}

var dfColumns = format.Columns{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Shared": "SHARED"}

const dfTable = `table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Shared}}`

// timeLayout is how CreatedAt columns print a time, as Docker's do.
const timeLayout = "2006-01-02 15:04:05 -0700 MST"

// portRow is a line of `port`: a published port, with Podman's field
// names (inspect's PortBindings say HostIp and HostPort too).
type portRow struct {
	ContainerPort int
	Protocol      string
	HostIP        string
	HostPort      int
}

var portColumns = format.Columns{"ContainerPort": "CONTAINER PORT", "Protocol": "PROTOCOL", "HostIP": "HOST IP", "HostPort": "HOST PORT"}
