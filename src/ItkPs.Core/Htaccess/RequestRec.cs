using System.Net;
using ItkPs.Core.Config;
using Mono.Unix.Native;

namespace ItkPs.Core.Htaccess;

/// <summary>What stat(2) found at a path.</summary>
public enum FileKind { None, Regular, Directory, Other }

/// <summary>The few stat(2) fields the request engine uses.</summary>
public readonly record struct FileStat(FileKind Kind, long Size, long MtimeSec, long MtimeNsec, ulong Inode, ulong Device, uint Uid, uint Mode, long CtimeSec, long CtimeNsec = 0)
{
    public static readonly FileStat Missing = new(FileKind.None, 0, 0, 0, 0, 0, 0, 0, 0);

    public static FileStat From(in Stat st)
    {
        var kind = (st.st_mode & FilePermissions.S_IFMT) switch
        {
            FilePermissions.S_IFREG => FileKind.Regular,
            FilePermissions.S_IFDIR => FileKind.Directory,
            _ => FileKind.Other,
        };
        return new FileStat(kind, st.st_size, st.st_mtime, st.st_mtime_nsec, st.st_ino, st.st_dev, st.st_uid, (uint)st.st_mode, st.st_ctime, st.st_ctime_nsec);
    }

    /// <summary>stat(2), following links; <paramref name="errno"/> is 0 on success.</summary>
    public static FileStat Of(string path, out Errno errno)
    {
        errno = NativeStat.Stat(path, out var st);
        return st;
    }

    public static FileStat Of(string path) => Of(path, out _);

    /// <summary>lstat(2): the link itself.</summary>
    public static bool IsSymlink(string path, out uint owner)
    {
        owner = 0;
        if (Syscall.lstat(path, out var st) != 0) return false;
        owner = st.st_uid;
        return (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFLNK;
    }
}

/// <summary>
/// What stays the same for every request_rec of one HTTP request (its subrequests and internal
/// redirects): the connection, the request line, the client's headers (one table, which
/// RequestHeader may change), the vhost.
/// </summary>
public sealed class Exchange
{
    public required VirtualHost Vhost { get; init; }
    public required string DocumentRoot { get; init; }
    public required string Protocol { get; init; }
    public required string Scheme { get; init; }
    public bool IsHttps { get; init; }
    /// <summary>The request line as the client sent it ("GET /x HTTP/1.1"), for THE_REQUEST.</summary>
    public required string TheRequest { get; init; }
    public required HeaderTable HeadersIn { get; init; }
    public IPAddress? RemoteIp { get; init; }
    public int RemotePort { get; init; }
    public IPAddress? LocalIp { get; init; }
    public int LocalPort { get; init; }
    /// <summary>
    /// The host name and port self-referential URLs use: those of the Host header (UseCanonicalName
    /// Off, Apache's default), else the vhost's ServerName and the scheme's default port.
    /// </summary>
    public required string ServerName { get; init; }
    public required int HostPort { get; init; }
    public DateTime Start { get; } = DateTime.UtcNow;
    /// <summary>Writes a line (level, text) to the vhost's ErrorLog for this request.</summary>
    public Action<string, string>? Log { get; init; }
    /// <summary>A RewriteRule with [END] was applied: no rewriting for the rest of this request, internal redirects included.</summary>
    public bool RewriteEnded { get; set; }
    /// <summary>Internal redirects so far (LimitInternalRecursion, 10).</summary>
    public int Redirects { get; set; }
    /// <summary>The authenticated user and scheme once Basic auth has passed (subrequests and redirects inherit them).</summary>
    public string? User { get; set; }
    public string? AuthType { get; set; }
    public IReadOnlyCollection<string> Groups { get; set; } = [];

    /// <summary>The URL of this server as a client addresses it ("http://host[:port]"), for Location headers.</summary>
    public string SelfUrl()
    {
        bool defaultPort = HostPort == (IsHttps ? 443 : 80);
        string host = ServerName.Contains(':') ? $"[{ServerName}]" : ServerName;
        return $"{Scheme}://{host}{(defaultPort ? "" : ":" + HostPort)}";
    }
}

/// <summary>
/// One request_rec: the state of a request, subrequest or internal redirect as it goes through
/// the phases (translate, directory walk, access, type, fixups, handler), as Apache keeps it.
/// </summary>
public sealed class RequestRec
{
    public RequestRec(Exchange exchange, string method, string uri, string? args, string unparsedUri)
    {
        X = exchange; Method = method; Uri = uri; Args = args; UnparsedUri = unparsedUri;
    }

    public Exchange X { get; }
    public string Method { get; set; }
    /// <summary>The decoded, normalised URL path.</summary>
    public string Uri { get; set; }
    /// <summary>The query string without '?', as sent (still escaped); null when none.</summary>
    public string? Args { get; set; }
    public string UnparsedUri { get; }
    public string? Filename { get; set; }
    public string PathInfo { get; set; } = "";
    public FileStat Finfo { get; set; } = FileStat.Missing;
    /// <summary>The path <see cref="Finfo"/> was taken of in this request (a file test of the same path needs no second stat).</summary>
    public string? FinfoPath { get; set; }

    /// <summary>stat(2) of a path, or the request's own <see cref="Finfo"/> when it is of that very path.</summary>
    public FileStat StatOf(string path) => FinfoPath is not null && string.Equals(path, FinfoPath, StringComparison.Ordinal) ? Finfo : FileStat.Of(path);
    public PerDir PerDir { get; set; } = null!;
    public string? Handler { get; set; }
    public string? ContentType { get; set; }
    public string? ContentEncoding { get; set; }
    public string? ContentLanguage { get; set; }
    public HeaderTable Env { get; set; } = new(16);
    public HeaderTable Notes { get; } = new(4);
    public HeaderTable HeadersOut { get; set; } = new(8);
    public HeaderTable ErrHeadersOut { get; set; } = new(4);
    /// <summary>The parent of a subrequest; the request this one was internally redirected from.</summary>
    public RequestRec? Main { get; init; }
    public RequestRec? Prev { get; init; }
    /// <summary>A status set by a rule (R=, F, G) that the phase returns.</summary>
    public int Status { get; set; } = 200;
    /// <summary>The URL path and file prefix a ScriptAlias mapped this request through, when one did.</summary>
    public string? ScriptAliasUrl { get; set; }
    /// <summary>Set by rewrite [T=] and [H=]: applied after the other fixups.</summary>
    public string? ForcedType { get; set; }
    public string? ForcedHandler { get; set; }
    /// <summary>The per-directory rewrite asked for an internal redirect to this URL.</summary>
    public string? RedirectTo { get; set; }
    /// <summary>The status of the error whose ErrorDocument this request serves (0 for ordinary requests).</summary>
    public int ErrorStatus { get; init; }

    /// <summary>A subrequest for a file (ap_sub_req_lookup_dirent): its Filename is set, the translate phase is skipped.</summary>
    public bool FileLookup { get; init; }
    /// <summary>
    /// mod_mime's "ap-mime-exceptions-list": the base name and each extension that gave no type,
    /// charset, language or encoding; null when no extension gave anything (MultiViews reads it).
    /// </summary>
    public List<string>? MimeExceptions { get; set; }
    /// <summary>A negotiated response's variant-list validator (an ETag of the directory), merged into the file's ETag.</summary>
    public string? VlistValidator { get; set; }

    public bool IsSubrequest => Main is not null;
    public bool IsInitial => Main is null && Prev is null;

    /// <summary>The first request of the chain of internal redirects.</summary>
    public RequestRec Original
    {
        get
        {
            var r = this;
            while (r.Prev is not null) r = r.Prev;
            return r;
        }
    }
}
