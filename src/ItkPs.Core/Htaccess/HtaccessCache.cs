using System.Collections.Concurrent;
using Mono.Unix.Native;

namespace ItkPs.Core.Htaccess;

/// <summary>Which version of a .htaccess was read: absent, or its inode, size and change times.</summary>
public readonly record struct HtaccessId(bool Exists, ulong Device, ulong Inode, long Size, long MtimeSec, long MtimeNsec, long CtimeSec, long CtimeNsec)
{
    public static readonly HtaccessId Absent = default;
}

/// <summary>What reading a directory's .htaccess gave: nothing, a compiled section, or why it cannot be used.</summary>
public sealed record HtaccessResult(HtaccessId Id, Section? Section, DirectiveException? Error, int Status)
{
    public static readonly HtaccessResult None = new(HtaccessId.Absent, null, null, 0);
}

/// <summary>
/// .htaccess files, read with the worker's (the site user's) permissions, parsed and compiled once
/// and kept until the file changes: a re-read only when the inode, size, mtime or ctime moved (the
/// walk checks that by stat only when <see cref="HtaccessWatch"/> saw something change). A file the user cannot
/// read is a 403 (as Apache: "unable to check htaccess file"); one with an error a 500.
/// </summary>
public sealed class HtaccessCache
{
    private sealed record Entry(HtaccessId Id, Section? Section, DirectiveException? Error);
    private readonly ConcurrentDictionary<(string Path, Overrides Allowed, Opt Opts, string List), Entry> _compiled = new();
    private long _reads;

    private HtaccessWatch? _watch;
    private int _watchState; // 0 not tried, 1 made, 2 unavailable

    /// <summary>The inotify watch that lets remembered walks skip their stats; null where it cannot be had.</summary>
    public HtaccessWatch? Watch
    {
        get
        {
            if (Volatile.Read(ref _watchState) == 0)
            {
                lock (_compiled)
                {
                    if (_watchState == 0)
                    {
                        _watch = HtaccessWatch.TryCreate();
                        Volatile.Write(ref _watchState, _watch is null ? 2 : 1);
                    }
                }
            }
            return _watch;
        }
    }

    /// <summary>Files actually read (parsed) so far: a test can tell a cache hit from a re-read.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    public const string FileName = ".htaccess";

    /// <summary>The identity of the .htaccess of a directory (which ends with '/'), or why it cannot be checked.</summary>
    public static HtaccessId Identify(string directory, out Errno errno)
    {
        errno = NativeStat.Stat(directory + FileName, out var st);
        return errno == 0 ? new HtaccessId(true, st.Device, st.Inode, st.Size, st.MtimeSec, st.MtimeNsec, st.CtimeSec, st.CtimeNsec) : HtaccessId.Absent;
    }

    /// <summary>The compiled .htaccess of a directory (path ending with '/') for the overrides in effect there.</summary>
    public HtaccessResult Load(string directory, Overrides allowed, IReadOnlySet<string>? allowList, Opt overrideOpts)
    {
        var id = Identify(directory, out var errno);
        if (!id.Exists)
        {
            if (errno is Errno.ENOENT or Errno.ENOTDIR) return HtaccessResult.None;
            return new HtaccessResult(id, null, new DirectiveException(directory + FileName, 0,
                $"({(int)errno}){Stdlib.strerror(errno)}: {directory}{FileName} pcfg_openfile: unable to check htaccess file, ensure it is readable and that '{directory}' is executable"), 403);
        }
        string list = allowList is null || allowList.Count == 0 ? "" : string.Join(',', allowList.Order(StringComparer.OrdinalIgnoreCase));
        var key = (directory, allowed, overrideOpts, list);
        if (_compiled.TryGetValue(key, out var e) && e.Id == id) return new HtaccessResult(id, e.Section, e.Error, e.Error is null ? 0 : 500);

        string path = directory + FileName;
        Section? section = null;
        DirectiveException? error = null;
        int status = 0;
        try
        {
            Interlocked.Increment(ref _reads);
            string text = File.ReadAllText(path);
            var records = HtaccessParser.Parse(text, path);
            section = SectionCompiler.Compile(records, CompileScope.Htaccess(directory, allowed, allowList, overrideOpts));
        }
        catch (DirectiveException de) { error = de; status = 500; }
        catch (UnauthorizedAccessException)
        {
            error = new DirectiveException(path, 0, $"(13)Permission denied: {path} pcfg_openfile: unable to check htaccess file, ensure it is readable and that '{directory}' is executable");
            status = 403;
        }
        catch (IOException ioe)
        {
            error = new DirectiveException(path, 0, $"{path}: {ioe.Message}");
            status = 403;
        }
        if (status != 403)
        {
            if (_compiled.Count > 20_000) _compiled.Clear();
            _compiled[key] = new Entry(id, section, error);
        }
        return new HtaccessResult(id, section, error, status);
    }
}
