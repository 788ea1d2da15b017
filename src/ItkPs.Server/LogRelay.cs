using System.Text;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// The master's end of its children's standard output and error: one pipe per child, read on one
/// thread (epoll), each line escaped and prefixed with the child's real pid, role and uid as the
/// master knows them. A child — and a worker is a tenant's process — can write only text that is
/// labelled as its own; it cannot forge a line of the master or of another child, nor reach the
/// operator's terminal with escape sequences. A child that floods is cut to a rate and the cut is
/// logged; it can only fill its own pipe and then wait.
/// </summary>
public sealed unsafe class LogRelay : IDisposable
{
    private const int MaxLine = 8192, LinesPerSecond = 200, Burst = 1000;

    private sealed class Source
    {
        public required int Fd;
        public required int Pid;
        public required string Role;
        public required uint Uid;
        public readonly List<byte> Partial = new();
        public double Tokens = Burst;
        public long Refilled = Environment.TickCount64;
        public int Dropped;
    }

    private readonly Epoll _epoll = new(64);
    private readonly Dictionary<int, Source> _sources = new();
    private readonly object _gate = new();
    private readonly Thread _thread;
    private volatile bool _stop;

    public LogRelay()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "log-relay" };
        _thread.Start();
    }

    /// <summary>A pipe for a child's stdout and stderr: the child gets the write end (close it after the spawn).</summary>
    public static (int Read, int Write) NewPipe()
    {
        int* fds = stackalloc int[2];
        if (Native.pipe2(fds, Native.O_CLOEXEC) != 0) throw new IOException($"pipe2: {Native.Error()}");
        return (fds[0], fds[1]);
    }

    /// <summary>Starts relaying a child's pipe; the relay closes it at end of stream.</summary>
    public void Attach(int readFd, int pid, string role, uint uid)
    {
        Native.fcntl(readFd, Native.F_SETFL, Native.O_NONBLOCK);
        lock (_gate) _sources[readFd] = new Source { Fd = readFd, Pid = pid, Role = role, Uid = uid };
        _epoll.Add(readFd, Epoll.In, (ulong)readFd);
    }

    private void Run()
    {
        var buffer = new byte[65536];
        while (!_stop)
        {
            int n = _epoll.Wait(1000);
            for (int i = 0; i < n; i++)
            {
                var (_, tag) = _epoll[i];
                Source? s;
                lock (_gate) _sources.TryGetValue((int)tag, out s);
                if (s is null) continue;
                // One read per wake-up and source: a child that writes without pause cannot starve the others.
                nint got;
                fixed (byte* p = buffer) got = Native.read(s.Fd, p, (nuint)buffer.Length);
                if (got > 0) { Take(s, buffer.AsSpan(0, (int)got)); continue; }
                if (got < 0 && Native.Errno is Native.EAGAIN or Native.EINTR) continue;
                if (s.Partial.Count > 0) Emit(s, s.Partial.ToArray());
                _epoll.Remove(s.Fd);
                Native.close(s.Fd);
                lock (_gate) _sources.Remove(s.Fd);
            }
        }
    }

    private void Take(Source s, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int nl = data.IndexOf((byte)'\n');
            if (nl < 0)
            {
                int room = MaxLine - s.Partial.Count;
                if (room > 0) s.Partial.AddRange(data[..Math.Min(room, data.Length)].ToArray());
                return;
            }
            if (s.Partial.Count == 0) Emit(s, data[..Math.Min(nl, MaxLine)]);
            else
            {
                int room = MaxLine - s.Partial.Count;
                if (room > 0) s.Partial.AddRange(data[..Math.Min(room, nl)].ToArray());
                Emit(s, s.Partial.ToArray());
                s.Partial.Clear();
            }
            data = data[(nl + 1)..];
        }
    }

    private void Emit(Source s, ReadOnlySpan<byte> line)
    {
        long now = Environment.TickCount64;
        s.Tokens = Math.Min(Burst, s.Tokens + (now - s.Refilled) * LinesPerSecond / 1000.0);
        s.Refilled = now;
        if (s.Tokens < 1) { s.Dropped++; return; }
        s.Tokens--;
        if (s.Dropped > 0)
        {
            Log.WriteLine(Encoding.UTF8.GetBytes($"{Log.Prefix(s.Pid, s.Role, s.Uid)}E{(int)LogEvent.LogSuppressed} {LogEvent.LogSuppressed}: {s.Dropped} line(s) of this process dropped (more than {LinesPerSecond}/s)"));
            s.Dropped = 0;
        }
        Log.WriteLine(Encoding.UTF8.GetBytes(Log.Prefix(s.Pid, s.Role, s.Uid) + LogText.EscapeControl(line)));
    }

    /// <summary>Waits until every attached pipe has reached its end (the children are gone and all they wrote is out).</summary>
    public void WaitDrained(TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end) { lock (_gate) if (_sources.Count == 0) return; Thread.Sleep(10); }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(2000);
        lock (_gate) foreach (var s in _sources.Values) Native.close(s.Fd);
        _epoll.Dispose();
    }
}
