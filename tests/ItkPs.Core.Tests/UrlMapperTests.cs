using ItkPs.Core.Hosting;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Request targets to files: nothing escapes the DocumentRoot, whatever the encoding.</summary>
public class UrlMapperTests
{
    private const string Root = "/srv/www/a";

    [Theory]
    [InlineData("/", Root, true)]
    [InlineData("/index.html", Root + "/index.html", false)]
    [InlineData("/sub/", Root + "/sub", true)]
    [InlineData("//index.html", Root + "/index.html", false)]
    [InlineData("/./index.html", Root + "/index.html", false)]
    [InlineData("/sub/../index.html", Root + "/index.html", false)]
    [InlineData("/%70age.txt", Root + "/page.txt", false)]
    [InlineData("/caf%C3%A9.html", Root + "/café.html", false)]
    [InlineData("/index.html?q=../../etc/passwd", Root + "/index.html", false)]
    [InlineData("http://a.test/page.txt", Root + "/page.txt", false)]
    public void MapsInsideTheRoot(string target, string file, bool slash)
    {
        var m = UrlMapper.Map(Root, target);
        Assert.True(m.Ok);
        Assert.Equal(file, m.FilePath);
        Assert.Equal(slash, m.TrailingSlash);
    }

    [Theory]
    [InlineData("/../b/page.txt", 400)]
    [InlineData("/%2e%2e/b/page.txt", 400)]
    [InlineData("/%2E%2E/%2E%2E/etc/passwd", 400)]
    [InlineData("/sub/../../b", 400)]
    [InlineData("/..%2fb", 404)]
    [InlineData("/%2fetc%2fpasswd", 404)]
    [InlineData("/..\\b\\page.txt", 404)]
    [InlineData("/%5c..%5cb", 404)]
    [InlineData("/.htpasswd", 403)]
    [InlineData("/sub/.HTaccess", 403)]
    [InlineData("/%2ehtpasswd", 403)]
    [InlineData("/%zz", 400)]
    [InlineData("/%00", 400)]
    [InlineData("/%C3", 400)]
    [InlineData("*", 400)]
    public void RefusesEscapesAndSecrets(string target, int status)
    {
        var m = UrlMapper.Map(Root, target);
        Assert.False(m.Ok);
        Assert.Equal(status, m.Status);
        Assert.Null(m.FilePath);
    }
}
