using System.Collections.Concurrent;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ItkPs.Server.Privileged;

/// <summary>What a child's standard stream is: a pipe to this process, or /dev/null.</summary>
public enum ChildStream { Pipe, Null }

/// <summary>
/// A program a worker starts as its user (a CGI script, php-cgi): standard streams are pipes to the
/// worker or /dev/null, and nothing else — no channel, no client socket, no log, no terminal. Run by
/// a worker after the privilege drop: NO_NEW_PRIVS is set on the starting thread first (it is per
/// thread and inherited by what the thread spawns), and starting as root is refused. Exits are
/// collected by one SIGCHLD handler for the process (<see cref="Reaper"/>), since no
/// System.Diagnostics.Process is used anywhere in itkd.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    public int Pid { get; }
    public Stream? StandardInput { get; }
    public Stream? StandardOutput { get; }
    public Stream? StandardError { get; }
    /// <summary>Completes with the wait status when the child has been reaped.</summary>
    public Task<ChildExit> Exited { get; }

    private ChildProcess(int pid, Stream? stdin, Stream? stdout, Stream? stderr, Task<ChildExit> exited)
    {
        Pid = pid; StandardInput = stdin; StandardOutput = stdout; StandardError = stderr; Exited = exited;
    }

    public bool HasExited => Exited.IsCompleted;

    public static unsafe ChildProcess Start(string program, IReadOnlyList<string> args, IReadOnlyList<KeyValuePair<string, string>> environment,
        string? workingDirectory, ChildStream stdin, ChildStream stdout, ChildStream stderr)
    {
        if (Native.prctl(Native.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw new PrivilegeException($"PR_SET_NO_NEW_PRIVS: {Native.Error()}");
        if (Mono.Unix.Native.Syscall.geteuid() == 0) throw new PrivilegeException("refusing to start a child as root");
        var close = new List<int>();   // descriptors of ours that only the child needs
        var parentEnds = new int[3] { -1, -1, -1 };
        try
        {
            int devNull = -1;
            int Null()
            {
                if (devNull < 0) { devNull = Native.open("/dev/null", Native.O_RDWR | Native.O_CLOEXEC, 0); if (devNull < 0) throw new IOException($"/dev/null: {Native.Error()}"); close.Add(devNull); }
                return devNull;
            }
            int ChildEnd(int index, ChildStream kind)
            {
                if (kind == ChildStream.Null) return Null();
                int* fds = stackalloc int[2];
                if (Native.pipe2(fds, Native.O_CLOEXEC) != 0) throw new IOException($"pipe2: {Native.Error()}");
                // stdin: the child reads fds[0], we write fds[1]; stdout/stderr the other way.
                int child = index == 0 ? fds[0] : fds[1];
                parentEnds[index] = index == 0 ? fds[1] : fds[0];
                close.Add(child);
                return child;
            }
            var descriptors = new[] { ChildEnd(0, stdin), ChildEnd(1, stdout), ChildEnd(2, stderr) };
            var argv = new List<string> { program };
            argv.AddRange(args);
            var env = environment.Select(kv => $"{kv.Key}={kv.Value}").ToList();
            int pid;
            Task<ChildExit> exited;
            lock (Reaper.Gate)
            {
                pid = Spawner.Spawn(new SpawnRequest(program, argv, env, descriptors) { WorkingDirectory = workingDirectory });
                exited = Reaper.Track(pid);
            }
            // Pipe streams, not FileStreams: their reads wait in epoll and can be cancelled (a CGI
            // timeout must end a read of a script that stays silent).
            Stream? Wrap(int index, PipeDirection direction) => parentEnds[index] < 0 ? null
                : new AnonymousPipeClientStream(direction, new SafePipeHandle(parentEnds[index], ownsHandle: true));
            var child = new ChildProcess(pid, Wrap(0, PipeDirection.Out), Wrap(1, PipeDirection.In), Wrap(2, PipeDirection.In), exited);
            parentEnds = [-1, -1, -1]; // owned by the streams now
            return child;
        }
        finally
        {
            foreach (int fd in close) Native.close(fd);
            foreach (int fd in parentEnds) if (fd >= 0) Native.close(fd);
        }
    }

    /// <summary>Sends a signal to the child (not to what it started).</summary>
    public void Signal(int signal)
    {
        if (!HasExited) Native.kill(Pid, signal);
    }

    /// <summary>SIGKILL to the child and to every descendant still linked to it (found through /proc).</summary>
    public void KillTree()
    {
        if (HasExited) return;
        foreach (int pid in Descendants(Pid).Append(Pid)) Native.kill(pid, Native.SIGKILL);
    }

    private static List<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            int close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], out int ppid))
                (children.TryGetValue(ppid, out var l) ? l : children[ppid] = new List<int>()).Add(pid);
        }
        var found = new List<int>();
        var todo = new Stack<int>([root]);
        while (todo.TryPop(out int p))
            if (children.TryGetValue(p, out var kids)) foreach (int k in kids) { found.Add(k); todo.Push(k); }
        return found;
    }

    public void Dispose()
    {
        StandardInput?.Dispose();
        StandardOutput?.Dispose();
        StandardError?.Dispose();
    }
}

/// <summary>How a child ended: its exit code, or the signal that killed it.</summary>
public readonly record struct ChildExit(int Code, int Signal)
{
    public static ChildExit FromStatus(int status) => (status & 0x7f) == 0 ? new((status >> 8) & 0xff, 0) : new(-1, status & 0x7f);
    public override string ToString() => Signal != 0 ? $"signal {Signal}" : $"status {Code}";
}

/// <summary>
/// Collects every child of this process (waitpid(-1)) when SIGCHLD arrives and completes its
/// <see cref="Track"/> task. Used by the master for its roles and by workers for their scripts.
/// Exits of children nobody tracked (none should exist) are dropped.
/// </summary>
public static class Reaper
{
    internal static readonly object Gate = new();
    private static readonly Dictionary<int, TaskCompletionSource<ChildExit>> Waiting = new();
    private static PosixSignalRegistration? _registration;
    private static readonly ConcurrentQueue<int> Unused = new();

    /// <summary>Run under <see cref="Gate"/> right after the spawn, so an early exit cannot be missed.</summary>
    internal static Task<ChildExit> Track(int pid)
    {
        _registration ??= PosixSignalRegistration.Create(PosixSignal.SIGCHLD, c => { c.Cancel = true; ReapAll(); });
        var tcs = new TaskCompletionSource<ChildExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        Waiting[pid] = tcs;
        return tcs.Task;
    }

    /// <summary>Collects every child that has exited. Also called on a timer, in case a signal was coalesced with another.</summary>
    public static void ReapAll()
    {
        while (true)
        {
            int pid;
            int status;
            lock (Gate)
            {
                pid = Native.waitpid(-1, out status, Native.WNOHANG);
                if (pid <= 0) return;
                if (Waiting.Remove(pid, out var tcs)) { tcs.TrySetResult(ChildExit.FromStatus(status)); continue; }
            }
            Unused.Enqueue(pid);
            while (Unused.Count > 64) Unused.TryDequeue(out _);
        }
    }
}
