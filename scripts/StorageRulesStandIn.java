// Stand-in for the Storage emulator's rules runtime, which is download-only.
//
// It speaks the runtime's line-delimited JSON protocol just enough for the
// Storage emulator to start: it accepts every ruleset and DENIES every rules
// evaluation, so client (rules-checked) requests fail closed. It does NOT
// evaluate storage.rules. Admin SDK calls bypass rules and are unaffected.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class StorageRulesStandIn {
    private static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*(-?\\d+)\\s*}\\s*$");

    public static void main(String[] args) throws Exception {
        System.out.println("{\"id\":-1,\"status\":\"ok\"}");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            Matcher m = ID.matcher(line);
            if (!m.find()) {
                continue;
            }
            String result = line.contains("\"load_ruleset\"") ? "{\"rulesVersion\":2}" : "{\"permit\":false}";
            System.out.println("{\"id\":" + m.group(1) + ",\"status\":\"ok\",\"errors\":[],\"warnings\":[],\"result\":" + result + "}");
            System.out.flush();
        }
    }
}
