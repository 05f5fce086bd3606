package app

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestTreeCPUCountsChildren: the bench's CPU figure for a process
// includes the work of its children (Squid works in a child process).
func TestTreeCPUCountsChildren(t *testing.T) {
	t.Parallel()
	// The shell only waits; its child burns CPU.
	cmd := exec.Command("sh", "-c", "yes >/dev/null & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for treeCPU(cmd.Process.Pid) < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("treeCPU of a shell whose child is busy: %s after 10 s", treeCPU(cmd.Process.Pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if own := treeCPU(-1); own != 0 {
		t.Errorf("treeCPU of a process that does not exist: %s", own)
	}
}
