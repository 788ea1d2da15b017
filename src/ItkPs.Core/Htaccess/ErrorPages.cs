using System.Net;

namespace ItkPs.Core.Htaccess;

/// <summary>
/// The status codes Apache knows (its status_lines table: a rule or ErrorDocument naming another one
/// is a configuration error) and the error pages it writes for them.
/// </summary>
public static class ErrorPages
{
    private static readonly Dictionary<int, string> Reasons = new()
    {
        [100] = "Continue", [101] = "Switching Protocols", [102] = "Processing", [103] = "Early Hints",
        [200] = "OK", [201] = "Created", [202] = "Accepted", [203] = "Non-Authoritative Information", [204] = "No Content",
        [205] = "Reset Content", [206] = "Partial Content", [207] = "Multi-Status", [208] = "Already Reported", [226] = "IM Used",
        [300] = "Multiple Choices", [301] = "Moved Permanently", [302] = "Found", [303] = "See Other", [304] = "Not Modified",
        [305] = "Use Proxy", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
        [400] = "Bad Request", [401] = "Unauthorized", [402] = "Payment Required", [403] = "Forbidden", [404] = "Not Found",
        [405] = "Method Not Allowed", [406] = "Not Acceptable", [407] = "Proxy Authentication Required", [408] = "Request Timeout",
        [409] = "Conflict", [410] = "Gone", [411] = "Length Required", [412] = "Precondition Failed", [413] = "Request Entity Too Large",
        [414] = "Request-URI Too Long", [415] = "Unsupported Media Type", [416] = "Requested Range Not Satisfiable",
        [417] = "Expectation Failed", [418] = "I'm a teapot", [421] = "Misdirected Request", [422] = "Unprocessable Entity", [423] = "Locked",
        [424] = "Failed Dependency", [425] = "Too Early", [426] = "Upgrade Required", [428] = "Precondition Required",
        [429] = "Too Many Requests", [431] = "Request Header Fields Too Large", [451] = "Unavailable For Legal Reasons",
        [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
        [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported", [506] = "Variant Also Negotiates", [507] = "Insufficient Storage",
        [508] = "Loop Detected", [510] = "Not Extended", [511] = "Network Authentication Required",
    };

    public static bool IsKnown(int status) => Reasons.ContainsKey(status);

    public static string Reason(int status) => Reasons.TryGetValue(status, out var r) ? r : "Unknown";

    /// <summary>Apache's canned error page for a status (the body of an error response without an ErrorDocument).</summary>
    public static string Body(int status, string method, string? location, string? variantList = null)
    {
        string text = status switch
        {
            301 or 302 or 307 or 308 => $"<p>The document has moved <a href=\"{Html(location ?? "")}\">here</a>.</p>",
            303 => $"<p>The answer to your request is located <a href=\"{Html(location ?? "")}\">here</a>.</p>",
            400 => "<p>Your browser sent a request that this server could not understand.<br />\n</p>",
            401 => "<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>",
            403 => "<p>You don't have permission to access this resource.</p>",
            404 => "<p>The requested URL was not found on this server.</p>",
            405 => $"<p>The requested method {Html(method)} is not allowed for this URL.</p>",
            300 => variantList?.TrimEnd('\n') ?? "",
            406 => "<p>An appropriate representation of the requested resource could not be found on this server.</p>" + (variantList is null ? "" : "\n" + variantList.TrimEnd('\n')),
            410 => "<p>The requested resource is no longer available on this server and there is no forwarding address.\nPlease remove all references to this resource.</p>",
            413 => $"The requested resource does not allow request data with {Html(method)} requests, or the amount of data provided in\nthe request exceeds the capacity limit.\n",
            414 => "<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n</p>",
            500 => "<p>The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>\n<p>More information about this error may be available\nin the server error log.</p>",
            503 => "<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>",
            _ => $"<p>{Html(Reason(status))}</p>",
        };
        return "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n"
            + $"<title>{status} {Reason(status)}</title>\n</head><body>\n<h1>{Reason(status)}</h1>\n{text}\n</body></html>\n";
    }

    private static string Html(string s) => WebUtility.HtmlEncode(s);
}
