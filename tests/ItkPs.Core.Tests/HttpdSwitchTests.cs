using ItkPs.Core.Spec;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Switching a CentOS 5 host to httpd.itk and back: the recipe's two edits, idempotent, undoable.</summary>
public class HttpdSwitchTests
{
    private const string Sysconfig = "# Configuration file for the httpd service.\n\n#\n# The default processing model (MPM) is the process-based\n# 'prefork' model.\n#\n#HTTPD=/usr/sbin/httpd.worker\n\n#OPTIONS=\n";
    private const string PhpConf = "#\n# PHP is an HTML-embedded scripting language\n#\n\n<IfModule prefork.c>\n  LoadModule php5_module modules/libphp5.so\n</IfModule>\n<IfModule worker.c>\n  LoadModule php5_module modules/libphp5-zts.so\n</IfModule>\n\nAddHandler php5-script .php\n";

    private static TempDir Host(string sysconfig = Sysconfig)
    {
        var dir = new TempDir();
        dir.Write("etc/sysconfig/httpd", sysconfig);
        dir.Write("etc/httpd/conf.d/php.conf", PhpConf);
        return dir;
    }

    private static void Apply(IEnumerable<FileEdit> edits) { foreach (var e in edits) File.WriteAllText(e.Path, e.Text); }

    [Fact]
    public void EnableSetsHttpdAndLetsModPhpLoadUnderItk()
    {
        using var host = Host();
        var edits = HttpdSwitch.Enable(host.Path);
        Assert.All(edits, e => Assert.True(e.Changed));
        Apply(edits);
        Assert.Contains("#HTTPD=/usr/sbin/httpd.worker\nHTTPD=/usr/sbin/httpd.itk\n\n#OPTIONS=", File.ReadAllText(HttpdSwitch.SysconfigPath(host.Path)));
        string php = File.ReadAllText(HttpdSwitch.PhpConfPath(host.Path));
        Assert.Contains("<IfModule !worker.c>\n  LoadModule php5_module modules/libphp5.so", php);
        Assert.Contains("<IfModule worker.c>\n  LoadModule php5_module modules/libphp5-zts.so", php);
        Assert.All(HttpdSwitch.Enable(host.Path), e => Assert.False(e.Changed)); // idempotent
    }

    [Fact]
    public void DisableRestoresTheFilesExactly()
    {
        using var host = Host();
        Apply(HttpdSwitch.Enable(host.Path));
        Apply(HttpdSwitch.Disable(host.Path));
        Assert.Equal(Sysconfig, File.ReadAllText(HttpdSwitch.SysconfigPath(host.Path)));
        Assert.Equal(PhpConf, File.ReadAllText(HttpdSwitch.PhpConfPath(host.Path)));
        Assert.All(HttpdSwitch.Disable(host.Path), e => Assert.False(e.Changed));
    }

    [Fact]
    public void AnActiveHttpdLineIsKeptAndComesBackOnDisable()
    {
        string active = "HTTPD=/usr/sbin/httpd.worker\n";
        using var host = Host(active);
        Apply(HttpdSwitch.Enable(host.Path));
        string enabled = File.ReadAllText(HttpdSwitch.SysconfigPath(host.Path));
        Assert.StartsWith("#HTTPD=/usr/sbin/httpd.worker # ItkPs:", enabled);
        Assert.EndsWith("\nHTTPD=/usr/sbin/httpd.itk\n", enabled);
        Apply(HttpdSwitch.Disable(host.Path));
        Assert.Equal(active, File.ReadAllText(HttpdSwitch.SysconfigPath(host.Path)));
    }
}
