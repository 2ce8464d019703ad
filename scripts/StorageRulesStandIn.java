// Stand-in for the Storage emulator's rules runtime, which is download-only.
//
// It speaks the runtime's line-delimited JSON protocol just enough for the
// Storage emulator to start: it accepts every ruleset and DENIES every rules
// evaluation, so client (rules-checked) requests fail closed, with one
// exception: the chat's image uploads. It does NOT evaluate storage.rules:
// the one rule it permits is a hand-written copy of storage.rules' uploads
// rule (keep the two alike), so a signed-in user may create and read
// uploads/{their uid}/{file}, an image (png, jpeg, webp, gif) of at most
// 5 MiB, and nothing else. Admin SDK calls bypass rules and are unaffected.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class StorageRulesStandIn {
    private static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*(-?\\d+)\\s*}\\s*$");
    private static final Pattern UPLOAD = Pattern.compile("\"path\"\\s*:\\s*\"/b/[^/\"]+/o/uploads/([^/\"]+)/[^/\"]+\"");
    private static final Pattern METHOD = Pattern.compile("\"method\"\\s*:\\s*\"(\\w+)\"");
    private static final Pattern UID = Pattern.compile("\"uid\"\\s*:\\s*\\{\\s*\"string_value\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern SIZE = Pattern.compile("\"size\"\\s*:\\s*\\{\\s*\"int_value\"\\s*:\\s*\"?(\\d+)");
    private static final Pattern TYPE = Pattern.compile("\"contentType\"\\s*:\\s*\\{\\s*\"string_value\"\\s*:\\s*\"image/(png|jpeg|webp|gif)\"");
    private static final long MAX_UPLOAD_BYTES = 5L * 1024 * 1024;

    /** storage.rules' uploads rule, by hand: the owner may create (an image of at most 5 MiB) and read. */
    static boolean permit(String line) {
        Matcher upload = UPLOAD.matcher(line);
        Matcher method = METHOD.matcher(line);
        if (!upload.find() || !method.find()) {
            return false;
        }
        int request = line.indexOf("\"request\"");
        if (request < 0) {
            return false;
        }
        String asked = line.substring(request); // request.resource and request.auth, not the stored resource
        Matcher uid = UID.matcher(asked);
        if (!uid.find() || !uid.group(1).equals(upload.group(1))) {
            return false;
        }
        switch (method.group(1)) {
            case "get":
                return true;
            case "create":
                Matcher size = SIZE.matcher(asked);
                return size.find() && Long.parseLong(size.group(1)) <= MAX_UPLOAD_BYTES && TYPE.matcher(asked).find();
            default:
                return false;
        }
    }

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
            String result = line.contains("\"load_ruleset\"") ? "{\"rulesVersion\":2}" : "{\"permit\":" + permit(line) + "}";
            System.out.println("{\"id\":" + m.group(1) + ",\"status\":\"ok\",\"errors\":[],\"warnings\":[],\"result\":" + result + "}");
            System.out.flush();
        }
    }
}
