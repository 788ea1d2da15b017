using System.Net;
using System.Text;
using ItkPs.Core.Htaccess;
using Microsoft.AspNetCore.Http;

namespace ItkPs.Server;

/// <summary>
/// mod_autoindex's plain listing (Options +Indexes without FancyIndexing): the directory's entries
/// that a request for them would be allowed to see (each is looked up as a subrequest, so denied
/// files and broken .htaccess directories do not show), minus IndexIgnore, sorted by the C= and O=
/// query arguments (name by default, byte order), with a link to the parent directory.
/// </summary>
public static class Autoindex
{
    private sealed record Entry(string Name, bool IsDir, long Size, long Mtime);

    public static async Task ServeAsync(HttpContext c, RequestEngine engine, RequestRec r)
    {
        var entries = new List<Entry>();
        var ignore = r.PerDir.Autoindex.Ignore;
        string dir = r.Filename!.EndsWith('/') ? r.Filename : r.Filename + "/";
        string baseUri = r.Uri.EndsWith('/') ? r.Uri : r.Uri + "/";
        IEnumerable<string> names;
        try { names = Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)).ToList(); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            r.X.Log?.Invoke("error", $"AH01275: Can't open directory for index: {dir}");
            c.Response.StatusCode = 403;
            return;
        }
        foreach (var name in names)
        {
            if (name is "." or ".." || ignore.Any(p => Expr.Fnmatch(p, name, true))) continue;
            var (sub, status) = await engine.LookupUriAsync(baseUri + name, r);
            if (status >= 400 || (status is > 0 and < 300 && status != 0)) continue;
            if (sub.Finfo.Kind is not (FileKind.Regular or FileKind.Directory)) continue;
            entries.Add(new Entry(name, sub.Finfo.Kind == FileKind.Directory, sub.Finfo.Size, sub.Finfo.MtimeSec));
        }

        char column = 'N', order = 'A';
        foreach (var arg in (r.Args ?? "").Split([';', '&'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (arg.Length == 3 && arg[1] == '=')
            {
                if (arg[0] == 'C' && "NMSD".Contains(arg[2])) column = arg[2];
                else if (arg[0] == 'O' && arg[2] is 'A' or 'D') order = arg[2];
            }
        }
        Comparison<Entry> byName = (a, b) => string.CompareOrdinal(a.Name, b.Name);
        Comparison<Entry> cmp = column switch
        {
            'M' => (a, b) => a.Mtime != b.Mtime ? a.Mtime.CompareTo(b.Mtime) : byName(a, b),
            'S' => (a, b) => a.Size != b.Size ? a.Size.CompareTo(b.Size) : byName(a, b),
            _ => byName,
        };
        entries.Sort(order == 'D' ? (a, b) => cmp(b, a) : cmp);

        string title = WebUtility.HtmlEncode(r.Uri.Length > 1 ? r.Uri.TrimEnd('/') : r.Uri);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html>\n <head>\n  <title>Index of ")
          .Append(title).Append("</title>\n </head>\n <body>\n<h1>Index of ").Append(title).Append("</h1>\n<ul>");
        if (baseUri != "/")
        {
            string parent = baseUri[..(baseUri.TrimEnd('/').LastIndexOf('/') + 1)];
            sb.Append("<li><a href=\"").Append(WebUtility.HtmlEncode(RequestEngine.EscapeUri(parent))).Append("\"> Parent Directory</a></li>\n");
        }
        foreach (var e in entries)
        {
            string n = e.Name + (e.IsDir ? "/" : "");
            sb.Append("<li><a href=\"").Append(WebUtility.HtmlEncode(RequestEngine.EscapeUri(n))).Append("\"> ").Append(WebUtility.HtmlEncode(n)).Append("</a></li>\n");
        }
        sb.Append("</ul>\n</body></html>\n");
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        c.Response.ContentType = "text/html;charset=ISO-8859-1";
        c.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(c.Request.Method)) await c.Response.Body.WriteAsync(bytes);
    }
}
