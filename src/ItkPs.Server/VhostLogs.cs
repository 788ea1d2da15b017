using System.Globalization;
using System.Text;
using ItkPs.Server.Privileged;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ItkPs.Server;

/// <summary>
/// A log file of a worker's vhosts, appended to with whole lines only: lines are collected and
/// written with one write(2) each flush (O_APPEND, no file position of our own), so several
/// workers sharing one CustomLog never cut into each other's lines.
/// </summary>
public sealed unsafe class LogFile : IDisposable
{
    private readonly int _fd;
    private readonly object _gate = new();
    private byte[] _buffer = new byte[16384];
    private int _length;

    private LogFile(int fd) { _fd = fd; }

    /// <summary>A descriptor the master opened (O_APPEND) and handed over.</summary>
    public static LogFile FromDescriptor(int fd) => new(fd);

    /// <summary>Run by a worker as its user for a log the master would not open as root: the kernel decides.</summary>
    public static LogFile OpenAsUser(string path)
    {
        int fd = Native.open(path, Native.O_WRONLY | Native.O_APPEND | Native.O_CREAT | Native.O_CLOEXEC | Native.O_NOCTTY, 0b110_100_000);
        if (fd < 0) throw new IOException($"{path}: {Native.Error()}");
        return new LogFile(fd);
    }

    public void WriteLine(string line)
    {
        int n = Encoding.UTF8.GetByteCount(line) + 1;
        lock (_gate)
        {
            if (_length + n > _buffer.Length)
            {
                FlushLocked();
                if (n > _buffer.Length) Array.Resize(ref _buffer, n);
            }
            _length += Encoding.UTF8.GetBytes(line, _buffer.AsSpan(_length));
            _buffer[_length++] = (byte)'\n';
        }
    }

    public void Flush() { lock (_gate) FlushLocked(); }

    private void FlushLocked()
    {
        int done = 0;
        fixed (byte* p = _buffer)
            while (done < _length)
            {
                nint w = Native.write(_fd, p + done, (nuint)(_length - done));
                if (w < 0) { if (Native.Errno == Native.EINTR) continue; break; } // a full disk: the lines are lost, the server goes on
                done += (int)w;
            }
        _length = 0;
    }

    public void Dispose() { Flush(); Native.close(_fd); }
}

/// <summary>
/// Combined Log Format lines for one vhost's CustomLog. The request line is the one the client
/// sent; it, the Referer and the User-Agent are escaped as Apache escapes them (\xhh, \", \\), so a
/// client cannot write a second line or a terminal escape into the log.
/// </summary>
public sealed class AccessLog(LogFile file)
{
    public LogFile File { get; } = file;

    public void Write(HttpContext c, long bytes)
    {
        var r = c.Request;
        var now = DateTimeOffset.Now;
        string zone = (now.Offset < TimeSpan.Zero ? "-" : "+") + now.Offset.ToString("hhmm", CultureInfo.InvariantCulture);
        string target = c.Features.Get<IHttpRequestFeature>()?.RawTarget ?? $"{r.Path}{r.QueryString}";
        File.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{c.Connection.RemoteIpAddress} - - [{now:dd/MMM/yyyy:HH:mm:ss} {zone}] \"{LogText.Escape(r.Method)} {LogText.Escape(target)} {LogText.Escape(r.Protocol)}\" {c.Response.StatusCode} {(bytes > 0 ? bytes : "-")} \"{Header(r.Headers.Referer)}\" \"{Header(r.Headers.UserAgent)}\""));
    }

    private static string Header(string? value) => string.IsNullOrEmpty(value) ? "-" : LogText.Escape(value);
}

/// <summary>A vhost's ErrorLog in Apache's layout: [time] [level] [pid N] [client ip:port] message: path.</summary>
public sealed class ErrorLog(LogFile file)
{
    public LogFile File { get; } = file;

    public void Write(string level, HttpContext c, string message) =>
        File.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{DateTime.Now:ddd MMM dd HH:mm:ss.ffffff yyyy}] [itkd:{level}] [pid {Environment.ProcessId}] [client {c.Connection.RemoteIpAddress}:{c.Connection.RemotePort}] {LogText.EscapeControl(message)}: {LogText.EscapeControl(c.Request.Path.Value)}"));
}
