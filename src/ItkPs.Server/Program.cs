using System.CommandLine;

namespace ItkPs.Server;

/// <summary>
/// itkd: one executable, three roles. Operators run "itkd --config FILE" (the master, as root);
/// the master starts the other roles with the hidden --role option.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var config = new Option<string>("--config") { Description = "Main configuration file (Apache syntax).", Required = true };
        var control = new Option<string>("--control-socket") { Description = "Root-only status socket.", DefaultValueFactory = _ => "/run/itkd/itkd.sock" };
        var pidFile = new Option<string?>("--pid-file") { Description = "Write the master's pid here." };
        var idle = new Option<int>("--worker-idle-timeout") { Description = "Seconds a user's pool may sit idle before it is reaped.", DefaultValueFactory = _ => 300 };
        var minWorkers = new Option<int>("--min-workers") { Description = "Workers a user's pool starts with.", DefaultValueFactory = _ => 1 };
        var maxWorkers = new Option<int>("--max-workers") { Description = "Workers a busy user's pool may grow to.", DefaultValueFactory = _ => 1 };
        var phpCgi = new Option<string>("--php", "--php-cgi")
        {
            Description = "The PHP each worker runs as its user: php-fpm (per-request php_value, the default when installed) or php-cgi.",
            DefaultValueFactory = _ => DefaultPhp(),
        };
        var phpChildren = new Option<int>("--php-children") { Description = "PHP processes per worker: php-fpm's pm.max_children, or php-cgi children.", DefaultValueFactory = _ => 4 };
        var role = new Option<string>("--role") { Hidden = true, DefaultValueFactory = _ => "master" };
        var channel = new Option<int>("--channel") { Hidden = true, DefaultValueFactory = _ => -1 };
        var user = new Option<string?>("--user") { Hidden = true };
        var group = new Option<string?>("--group") { Hidden = true };

        var root = new RootCommand("itkd: serves each virtual host as its own Unix user (privilege-separated prefork server).")
        {
            config, control, pidFile, idle, minWorkers, maxWorkers, phpCgi, phpChildren, role, channel, user, group,
        };
        root.SetAction(parsed =>
        {
            if (parsed.GetValue(role) == "master") Privileged.Spawner.RetitleMaster(args);
            string file = Path.GetFullPath(parsed.GetValue(config)!);
            try
            {
                return parsed.GetValue(role) switch
                {
                    "master" => new Master(file, parsed.GetValue(control)!, parsed.GetValue(pidFile), parsed.GetValue(idle), parsed.GetValue(minWorkers), parsed.GetValue(maxWorkers),
                        parsed.GetValue(phpCgi)!, parsed.GetValue(phpChildren)).Run(),
                    "dispatcher" => new Dispatcher(file, parsed.GetValue(channel)).Run(),
                    "worker" => new Worker(file, parsed.GetValue(channel), parsed.GetValue(user)!, parsed.GetValue(group)!, parsed.GetValue(idle)).Run(),
                    var r => throw new ArgumentException($"unknown role {r}"),
                };
            }
            catch (Privileged.PrivilegeException e)
            {
                Log.Write(LogEvent.ConfigError, $"fatal: {e.Message}");
                return 3;
            }
        });
        return root.Parse(args).Invoke();
    }

    /// <summary>The newest installed php-fpm (it takes mod_php's per-directory settings per request); php-cgi when there is none.</summary>
    private static string DefaultPhp()
    {
        var fpm = Directory.Exists("/usr/sbin") ? Directory.GetFiles("/usr/sbin", "php-fpm*").Order(StringComparer.Ordinal).LastOrDefault() : null;
        return fpm ?? "/usr/bin/php-cgi";
    }
}
