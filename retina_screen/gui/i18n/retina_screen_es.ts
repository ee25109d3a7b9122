<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="es_ES">
<context>
    <name>BatchPage</name>
    <message>
        <location filename="../batch_view.py" line="204"/>
        <source>estimating time left…</source>
        <translation>calculando el tiempo restante…</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="207"/>
        <source>about {0} s left</source>
        <translation>quedan unos {0} s</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="210"/>
        <source>about {0} min {1:02d} s left</source>
        <translation>quedan unos {0} min {1:02d} s</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="212"/>
        <source>about {0} h {1:02d} min left</source>
        <translation>quedan unas {0} h {1:02d} min</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="223"/>
        <source>{0:,} of {1:,} photographs</source>
        <translation>{0:,} de {1:,} fotografías</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="225"/>
        <source>{0:,} ungradable</source>
        <translation>{0:,} no evaluables</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="217"/>
        <source>1 error</source>
        <translation>1 error</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="218"/>
        <source>{0:,} errors</source>
        <translation>{0:,} errores</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="229"/>
        <source>{0:.1f} photos/s</source>
        <translation>{0:.1f} fotos/s</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="268"/>
        <source>Camera export folder</source>
        <translation>Carpeta de exportación de la cámara</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="269"/>
        <source>Folder the fundus camera exports photographs to</source>
        <translation>Carpeta donde la cámara de fondo de ojo exporta las fotografías</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="271"/>
        <source>Output folder</source>
        <translation>Carpeta de salida</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="279"/>
        <source>automatic (e.g. P001_R.jpg, P001-left-2.jpg)</source>
        <translation>automático (p. ej. P001_R.jpg, P001-left-2.jpg)</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="280"/>
        <source>File-name pattern</source>
        <translation>Patrón de nombres de archivo</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="281"/>
        <source>Optional: how file names encode patient and eye, e.g. {patient}_{eye}_{any}</source>
        <translation>Opcional: cómo indican los nombres de archivo el paciente y el ojo, p. ej. {patient}_{eye}_{any}</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="283"/>
        <source>Write a PDF report for each patient</source>
        <translation>Escribir un informe PDF por paciente</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="285"/>
        <source>Keep watching the folder for new photographs</source>
        <translation>Seguir vigilando la carpeta por si llegan fotografías nuevas</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="286"/>
        <source>Screens each new patient as the camera writes the files; runs until you press Stop.</source>
        <translation>Analiza cada paciente nuevo cuando la cámara escribe los archivos; sigue hasta que pulse Detener.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="289"/>
        <source>&amp;Camera export folder</source>
        <translation>Carpeta de exportación de la &amp;cámara</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="290"/>
        <source>&amp;Output folder</source>
        <translation>Carpeta de &amp;salida</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="291"/>
        <source>File &amp;names</source>
        <translation>&amp;Nombres de archivo</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="299"/>
        <source>Start screening</source>
        <translation>Iniciar cribado</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="302"/>
        <source>Start or resume screening the folder (Ctrl+R)</source>
        <translation>Iniciar o reanudar el cribado de la carpeta (Ctrl+R)</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="303"/>
        <source>Start screening the folder</source>
        <translation>Iniciar el cribado de la carpeta</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="304"/>
        <location filename="../batch_view.py" line="541"/>
        <source>Stop</source>
        <translation>Detener</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="306"/>
        <source>Stop safely: screened photographs are kept (Esc)</source>
        <translation>Detener sin riesgo: las fotografías analizadas se conservan (Esc)</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="307"/>
        <source>Stop screening</source>
        <translation>Detener el cribado</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="324"/>
        <source>Screen a folder</source>
        <translation>Cribado de una carpeta</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="331"/>
        <source>Batch progress</source>
        <translation>Progreso del lote</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="335"/>
        <source>0 of 0</source>
        <translation>0 de 0</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="339"/>
        <source>Choose the camera export folder and press Start.</source>
        <translation>Elija la carpeta de exportación de la cámara y pulse Iniciar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="341"/>
        <source>Batch progress details</source>
        <translation>Detalles del progreso del lote</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="358"/>
        <source>What the run found to check</source>
        <translation>Lo que el lote encontró para revisar</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="363"/>
        <source>Show only patients to &amp;refer</source>
        <translation>Mostrar solo pacientes a de&amp;rivar</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="364"/>
        <source>Show only patients to refer</source>
        <translation>Mostrar solo pacientes a derivar</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="368"/>
        <location filename="../batch_view.py" line="566"/>
        <source>No patients yet</source>
        <translation>Aún no hay pacientes</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="370"/>
        <source>Open output folder</source>
        <translation>Abrir carpeta de salida</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="375"/>
        <source>Patients</source>
        <translation>Pacientes</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="385"/>
        <source>Screened patients</source>
        <translation>Pacientes analizados</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="444"/>
        <source>Another camera folder</source>
        <translation>Otra carpeta de cámara</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="445"/>
        <source>{0}

Add this folder&apos;s results to that output folder anyway?</source>
        <translation>{0}

¿Añadir de todos modos los resultados de esta carpeta a esa carpeta de salida?</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="455"/>
        <source>Stop watching</source>
        <translation>Dejar de vigilar</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="456"/>
        <source>Stop watching the camera folder? New photographs will not be screened until you start again.</source>
        <translation>¿Dejar de vigilar la carpeta de la cámara? Las fotografías nuevas no se cribarán hasta que vuelva a empezar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="475"/>
        <source>Choose the camera export folder first (it must exist).</source>
        <translation>Elija primero la carpeta de exportación de la cámara (debe existir).</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="480"/>
        <source>Choose an output folder for the results.</source>
        <translation>Elija una carpeta de salida para los resultados.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="485"/>
        <source>Choose an output folder different from the camera folder.</source>
        <translation>Elija una carpeta de salida distinta de la carpeta de la cámara.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="504"/>
        <source>Watching</source>
        <translation>Vigilando</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="505"/>
        <source>Watching the camera folder: each new patient is screened as soon as the camera has written the photographs. Press Stop to end.</source>
        <translation>Vigilando la carpeta de la cámara: cada paciente nuevo se analiza en cuanto la cámara ha escrito las fotografías. Pulse Detener para terminar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="509"/>
        <source>Starting…</source>
        <translation>Iniciando…</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="510"/>
        <source>Looking for photographs…</source>
        <translation>Buscando fotografías…</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="527"/>
        <source>Stopping…</source>
        <translation>Deteniendo…</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="528"/>
        <source>Stopping after the photographs in progress…</source>
        <translation>Deteniendo tras las fotografías en curso…</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="553"/>
        <source>watching for new photographs</source>
        <translation>vigilando si llegan fotografías nuevas</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="569"/>
        <source>1 patient</source>
        <translation>1 paciente</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="569"/>
        <source>{0} patients</source>
        <translation>{0} pacientes</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="571"/>
        <source>({0} visits)</source>
        <translation>({0} visitas)</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="572"/>
        <source>{0} to refer · {1} to retake or grade by hand</source>
        <translation>{0} a derivar · {1} a repetir o evaluar a mano</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="575"/>
        <source>showing referrals only</source>
        <translation>solo se muestran derivaciones</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="589"/>
        <source>Nothing to screen</source>
        <translation>Nada que cribar</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="590"/>
        <source>No photographs were found in this folder. Check that it is the folder the camera exports to, or wait until the camera has exported the photographs, then press Start.</source>
        <translation>No se encontraron fotografías en esta carpeta. Compruebe que es la carpeta a la que exporta la cámara, o espere a que la cámara haya exportado las fotografías, y pulse Iniciar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="596"/>
        <source>Files not looked at: {0}</source>
        <translation>Archivos no examinados: {0}</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="599"/>
        <source>The run stopped because of a problem.</source>
        <translation>El lote se detuvo por un problema.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="600"/>
        <location filename="../batch_view.py" line="605"/>
        <location filename="../batch_view.py" line="617"/>
        <location filename="../batch_view.py" line="638"/>
        <source>Stopped</source>
        <translation>Detenido</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="607"/>
        <source>Watching stopped. The output folder holds {0:,} photographs: {1:,} graded, {2:,} ungradable, {3}.</source>
        <translation>Vigilancia detenida. La carpeta de salida contiene {0:,} fotografías: {1:,} graduadas, {2:,} no evaluables, {3}.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="630"/>
        <source>{0:,} photographs: {1:,} graded, {2:,} ungradable, {3}</source>
        <translation>{0:,} fotografías: {1:,} graduadas, {2:,} no evaluables, {3}</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="619"/>
        <source>Stopped after {0:,} of {1:,} photographs. Press Start to resume: photographs already screened are not screened again.</source>
        <translation>Detenido tras {0:,} de {1:,} fotografías. Pulse Iniciar para reanudar: las fotografías ya analizadas no se vuelven a analizar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="622"/>
        <source>Batch stopped safely. Press Start again to resume.</source>
        <translation>Lote detenido sin riesgo. Pulse Iniciar otra vez para reanudar.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="627"/>
        <source>Finished</source>
        <translation>Terminado</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="632"/>
        <source>({0:,} from the earlier run)</source>
        <translation>({0:,} del lote anterior)</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="634"/>
        <source>Results are in results.csv and patients.csv in the output folder.</source>
        <translation>Los resultados están en results.csv y patients.csv en la carpeta de salida.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="639"/>
        <source>Watching stopped.</source>
        <translation>Vigilancia detenida.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="657"/>
        <source>{0:,} photographs could not be graded; the most frequent reason ({1:,} of them): {2}.</source>
        <translation>{0:,} fotografías no se pudieron graduar; el motivo más frecuente ({1:,} de ellas): {2}.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="661"/>
        <source>1 photograph could not be graded: {0}.</source>
        <translation>1 fotografía no se pudo graduar: {0}.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="664"/>
        <source>{0:,} photographs could not be graded; the reasons: {1}.</source>
        <translation>{0:,} fotografías no se pudieron graduar; los motivos: {1}.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="671"/>
        <source>1 finding to check after this run: see it under the progress bar.</source>
        <translation>1 hallazgo que revisar tras este lote: véalo bajo la barra de progreso.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="673"/>
        <source>{0} findings to check after this run: see them under the progress bar.</source>
        <translation>{0} hallazgos que revisar tras este lote: véalos bajo la barra de progreso.</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="692"/>
        <source>There is no report for this patient (reports were switched off, or the run stopped before it was written).</source>
        <translation>No hay informe para este paciente (los informes estaban desactivados, o el lote se detuvo antes de escribirlo).</translation>
    </message>
</context>
<context>
    <name>EyeSlot</name>
    <message>
        <location filename="../patient_view.py" line="509"/>
        <source>{0} photographs</source>
        <translation>Fotografías: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="514"/>
        <source>Add…</source>
        <translation>Añadir…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="515"/>
        <source>Add {0} photographs</source>
        <translation>Añadir fotografías: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="516"/>
        <source>Choose {0} photographs from a folder</source>
        <translation>Elegir fotografías de una carpeta: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="519"/>
        <source>Drop photographs here
or click Add…</source>
        <translation>Suelte aquí las fotografías
o pulse Añadir…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="542"/>
        <source>Choose right or left eye for each of these photographs</source>
        <translation>Elija ojo derecho o izquierdo para cada una de estas fotografías</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="577"/>
        <source>· 1 photo</source>
        <translation>· 1 foto</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="578"/>
        <source>· {0} photos</source>
        <translation>· {0} fotos</translation>
    </message>
</context>
<context>
    <name>ImageView</name>
    <message>
        <location filename="../image_view.py" line="75"/>
        <source>Photograph viewer</source>
        <extracomment>Zoomed in this much past one display pixel per screen pixel, the full-resolution crop is shown. Longest side of the full-resolution crop (bounds memory for very large photographs).</extracomment>
        <translation>Visor de fotografías</translation>
    </message>
    <message>
        <location filename="../image_view.py" line="76"/>
        <source>Zoom with the mouse wheel or Ctrl+plus and Ctrl+minus; drag to pan; double-click to fit.</source>
        <translation>Amplíe con la rueda del ratón o Ctrl+más y Ctrl+menos; arrastre para desplazar; doble clic para ajustar.</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../main_window.py" line="87"/>
        <source>Retina Screen – diabetic retinopathy screening</source>
        <extracomment>The window&apos;s comfortable size; smaller screens get a window that fits them (pages scroll).</extracomment>
        <translation>Retina Screen – cribado de retinopatía diabética</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="98"/>
        <source>Screen a patient</source>
        <translation>Cribado de un paciente</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="100"/>
        <source>Screen a folder</source>
        <translation>Cribado de una carpeta</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="102"/>
        <location filename="../main_window.py" line="103"/>
        <source>Screens</source>
        <translation>Pantallas</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="115"/>
        <location filename="../main_window.py" line="224"/>
        <source>Loading the grading model…</source>
        <translation>Cargando el modelo de graduación…</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="140"/>
        <source>&amp;File</source>
        <translation>&amp;Archivo</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="147"/>
        <source>Se&amp;ttings…</source>
        <translation>&amp;Configuración…</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="152"/>
        <source>&amp;Quit</source>
        <translation>&amp;Salir</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="157"/>
        <source>&amp;View</source>
        <translation>&amp;Ver</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="158"/>
        <source>Screen a &amp;patient</source>
        <translation>Cribado de un &amp;paciente</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="161"/>
        <source>Screen a &amp;folder</source>
        <translation>Cribado de una &amp;carpeta</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="171"/>
        <source>&amp;Help</source>
        <translation>A&amp;yuda</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="172"/>
        <source>Open the &amp;log folder</source>
        <translation>Abrir la carpeta de &amp;registros</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="175"/>
        <source>&amp;About Retina Screen</source>
        <translation>&amp;Acerca de Retina Screen</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="230"/>
        <source>Screening unavailable: the grading model could not be loaded</source>
        <translation>Cribado no disponible: no se pudo cargar el modelo de graduación</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="239"/>
        <source>Model {0} {1} (sha256 {2}) ready</source>
        <translation>Modelo {0} {1} (sha256 {2}) listo</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="278"/>
        <source>clinic name not set</source>
        <translation>nombre de la clínica sin configurar</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="280"/>
        <source>operator not set</source>
        <translation>operador sin configurar</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="291"/>
        <source>Settings saved. Restart Retina Screen to change the app&apos;s language; new reports use the new language at once.</source>
        <translation>Configuración guardada. Reinicie Retina Screen para cambiar el idioma de la aplicación; los informes nuevos usan el nuevo idioma de inmediato.</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="293"/>
        <source>Settings saved.</source>
        <translation>Configuración guardada.</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="326"/>
        <source>About Retina Screen</source>
        <translation>Acerca de Retina Screen</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="327"/>
        <source>&lt;b&gt;Retina Screen&lt;/b&gt; {0}&lt;br&gt;Offline screening of colour fundus photographs for diabetic retinopathy.&lt;br&gt;&lt;br&gt;Grading model: {1}&lt;br&gt;&lt;br&gt;Research use only: not cleared for clinical diagnosis. Every result must be reviewed under your local screening programme&apos;s rules.</source>
        <translation>&lt;b&gt;Retina Screen&lt;/b&gt; {0}&lt;br&gt;Cribado sin conexión de retinopatía diabética en fotografías de fondo de ojo en color.&lt;br&gt;&lt;br&gt;Modelo de graduación: {1}&lt;br&gt;&lt;br&gt;Solo para investigación: no autorizado para el diagnóstico clínico. Cada resultado debe revisarse según las normas de su programa de cribado.</translation>
    </message>
    <message>
        <location filename="../main_window.py" line="385"/>
        <source>Stopping the folder screening safely…</source>
        <translation>Deteniendo el cribado de la carpeta sin riesgo…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="390"/>
        <source>Patient from &amp;worklist…</source>
        <translation>Paciente de la &amp;lista de trabajo…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="172"/>
        <location filename="../clinic_view.py" line="392"/>
        <source>Fill the patient form from the day&apos;s worklist</source>
        <translation>Rellenar el formulario del paciente desde la lista de trabajo del día</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="163"/>
        <source>No worklist server is set up on this computer. Type the patient&apos;s details, or ask your IT support to set up the worklist.</source>
        <translation>No hay ningún servidor de lista de trabajo configurado en este ordenador. Escriba los datos del paciente o pida a su soporte informático que configure la lista de trabajo.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="396"/>
        <source>&amp;Clinic</source>
        <translation>C&amp;línica</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="400"/>
        <source>From &amp;worklist…</source>
        <translation>Desde la &amp;lista de trabajo…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="401"/>
        <source>Fill the patient form from the worklist</source>
        <translation>Rellenar el formulario del paciente desde la lista de trabajo</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="420"/>
        <source>Send this &amp;patient to PACS</source>
        <translation>Enviar este &amp;paciente al PACS</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="430"/>
        <source>&amp;Send batch results to PACS</source>
        <translation>&amp;Enviar los resultados del lote al PACS</translation>
    </message>
</context>
<context>
    <name>MessageBar</name>
    <message>
        <location filename="../message_bar.py" line="50"/>
        <source>Message</source>
        <extracomment>A warning goes after a minute (it stayed until closed); an error stays until closed.</extracomment>
        <translation>Mensaje</translation>
    </message>
    <message>
        <location filename="../message_bar.py" line="54"/>
        <source>Dismiss</source>
        <translation>Cerrar</translation>
    </message>
    <message>
        <location filename="../message_bar.py" line="55"/>
        <source>Dismiss message</source>
        <translation>Cerrar el mensaje</translation>
    </message>
</context>
<context>
    <name>PacsPanel</name>
    <message>
        <location filename="../clinic_view.py" line="208"/>
        <source>Send to &amp;PACS</source>
        <translation>Enviar al &amp;PACS</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="209"/>
        <source>Send results to the PACS</source>
        <translation>Enviar resultados al PACS</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="210"/>
        <source>Send every screened patient&apos;s report and structured report to the PACS; what cannot be sent stays queued</source>
        <translation>Enviar al PACS el informe y el informe estructurado de cada paciente analizado; lo que no se pueda enviar queda en cola</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="244"/>
        <source>PACS: {0} results queued, not sent yet</source>
        <translation>PACS: {0} resultados en cola, aún sin enviar</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="255"/>
        <source>Sending to the PACS…</source>
        <translation>Enviando al PACS…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="266"/>
        <source>{0} results sent; {1} stay queued and are sent next time ({2}).</source>
        <translation>{0} resultados enviados; {1} quedan en cola y se envían la próxima vez ({2}).</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="269"/>
        <source>{0} results sent to the PACS {1}.</source>
        <translation>{0} resultados enviados al PACS {1}.</translation>
    </message>
</context>
<context>
    <name>PatientForm</name>
    <message>
        <location filename="../patient_view.py" line="227"/>
        <source>e.g. hospital number</source>
        <extracomment>The patient screen&apos;s columns (form and photos, viewer, result) at the comfortable width. The viewer&apos;s least share of a narrow window: the side columns give way down to their minimum. DICOM AccessionNumber (SH): at most 16 characters.</extracomment>
        <translation>p. ej. número de historia</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="228"/>
        <source>Patient ID</source>
        <translation>ID del paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="230"/>
        <source>Given name and family name</source>
        <translation>Nombre y apellidos</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="231"/>
        <source>Patient name</source>
        <translation>Nombre del paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="233"/>
        <source>YYYY-MM-DD</source>
        <translation>AAAA-MM-DD</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="234"/>
        <source>Date of birth</source>
        <translation>Fecha de nacimiento</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="239"/>
        <location filename="../patient_view.py" line="243"/>
        <source>not recorded</source>
        <translation>no registrado</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="239"/>
        <source>Type 1</source>
        <translation>Tipo 1</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="239"/>
        <source>Type 2</source>
        <translation>Tipo 2</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="240"/>
        <source>Gestational</source>
        <translation>Gestacional</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="240"/>
        <location filename="../patient_view.py" line="244"/>
        <source>Other</source>
        <translation>Otro</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="241"/>
        <source>Diabetes type</source>
        <translation>Tipo de diabetes</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="243"/>
        <source>Female</source>
        <translation>Femenino</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="243"/>
        <source>Male</source>
        <translation>Masculino</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="245"/>
        <source>Sex</source>
        <translation>Sexo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="247"/>
        <source>e.g. from the worklist</source>
        <translation>p. ej. de la lista de trabajo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="248"/>
        <source>Accession number</source>
        <translation>Número de acceso</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="252"/>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="259"/>
        <source>Se&amp;x</source>
        <translation>Se&amp;xo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="257"/>
        <source>&amp;ID</source>
        <translation>&amp;ID</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="257"/>
        <source>&amp;Name</source>
        <translation>&amp;Nombre</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="258"/>
        <source>&amp;Date of birth</source>
        <translation>&amp;Fecha de nacimiento</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="260"/>
        <source>Dia&amp;betes</source>
        <translation>Dia&amp;betes</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="261"/>
        <source>&amp;Accession no.</source>
        <translation>N.º de &amp;acceso</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="331"/>
        <source>Enter a real date as YYYY-MM-DD, not in the future</source>
        <translation>Introduzca una fecha real como AAAA-MM-DD, no futura</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="342"/>
        <source>The accession number &apos;{0}&apos; has {1} characters; DICOM allows at most {2}. Check it (a number pasted with more than it?).</source>
        <translation>El número de acceso &apos;{0}&apos; tiene {1} caracteres; DICOM permite como máximo {2}. Compruébelo (¿se pegó un número con más?).</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="351"/>
        <source>The date of birth &apos;{0}&apos; is not a valid date. Enter it as YYYY-MM-DD (for example 1950-02-28) or leave it empty.</source>
        <translation>La fecha de nacimiento «{0}» no es una fecha válida. Introdúzcala como AAAA-MM-DD (por ejemplo 1950-02-28) o déjela vacía.</translation>
    </message>
</context>
<context>
    <name>PatientPacsPanel</name>
    <message>
        <location filename="../clinic_view.py" line="289"/>
        <source>Send to &amp;PACS</source>
        <translation>Enviar al &amp;PACS</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="293"/>
        <source>Send this patient&apos;s results to the PACS</source>
        <translation>Enviar los resultados de este paciente al PACS</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="317"/>
        <source>No PACS is configured: set pacs_host, pacs_port and pacs_ae_title in the settings file to send results to the PACS.</source>
        <translation>No hay ningún PACS configurado: indique pacs_host, pacs_port y pacs_ae_title en el archivo de configuración para enviar resultados al PACS.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="321"/>
        <source>Send this patient&apos;s report and structured report to the PACS; what cannot be sent stays queued and goes with the next send</source>
        <translation>Enviar el informe y el informe estructurado de este paciente al PACS; lo que no se pueda enviar queda en cola y sale con el próximo envío</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="331"/>
        <source>PACS: sending…</source>
        <translation>PACS: enviando…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="332"/>
        <source>PACS: sent.</source>
        <translation>PACS: enviado.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="333"/>
        <source>PACS: queued, not sent yet ({0}). Send again when the PACS is back.</source>
        <translation>PACS: en cola, aún no enviado ({0}). Vuelva a enviar cuando el PACS esté disponible.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="335"/>
        <source>PACS: not sent ({0}).</source>
        <translation>PACS: no enviado ({0}).</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="376"/>
        <source>The patient&apos;s results were sent to the PACS {0}.</source>
        <translation>Los resultados del paciente se enviaron al PACS {0}.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="380"/>
        <source>not confirmed by the PACS</source>
        <translation>el PACS no lo ha confirmado</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="382"/>
        <source>The patient&apos;s results stay queued and are sent next time ({0}).</source>
        <translation>Los resultados del paciente quedan en cola y se enviarán la próxima vez ({0}).</translation>
    </message>
</context>
<context>
    <name>PatientPage</name>
    <message>
        <location filename="../patient_view.py" line="67"/>
        <source>Heatmap: areas that most influenced the grade (brightest yellow = strongest). It is not a map of lesions.</source>
        <translation>Mapa de calor: zonas que más influyeron en el grado (amarillo más brillante = más influencia). No es un mapa de lesiones.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="865"/>
        <source>&amp;Open photographs…</source>
        <extracomment>The clinic name/operator should be entered; the argument is called once they are. Pictures of photographs not screened (no grading model), shown as they are; None while being loaded. ``unreadable``: why such a photograph could not be read. Asks before an unsaved screening is discarded; ``quitting`` when the window closes. Asks when a report would go out without clinic name or operator (replaceable in tests): returns &quot;enter&quot;, &quot;anyway&quot; or &quot;cancel&quot;.</extracomment>
        <translation>&amp;Abrir fotografías…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="868"/>
        <source>Add photographs of this patient</source>
        <translation>Añadir fotografías de este paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="869"/>
        <source>&amp;New patient</source>
        <translation>&amp;Nuevo paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="870"/>
        <source>Clear everything for the next patient</source>
        <translation>Borrar todo para el siguiente paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="873"/>
        <source>&amp;Print report…</source>
        <translation>&amp;Imprimir informe…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="875"/>
        <source>Preview and print the report</source>
        <translation>Vista previa e impresión del informe</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="877"/>
        <source>&amp;Save PDF…</source>
        <translation>&amp;Guardar PDF…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="879"/>
        <source>Save the report as a PDF file</source>
        <translation>Guardar el informe como archivo PDF</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="881"/>
        <source>Show &amp;heatmap</source>
        <translation>Mostrar &amp;mapa de calor</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="883"/>
        <source>Overlay where the model looked on the photograph</source>
        <translation>Superponer dónde miró el modelo en la fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="886"/>
        <source>Zoom &amp;in</source>
        <translation>&amp;Ampliar</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="888"/>
        <source>Zoom in on the photograph</source>
        <translation>Ampliar la fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="889"/>
        <source>Zoom &amp;out</source>
        <translation>&amp;Reducir</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="891"/>
        <source>Zoom out</source>
        <translation>Reducir</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="892"/>
        <source>&amp;Fit to window</source>
        <translation>Ajustar a la &amp;ventana</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="893"/>
        <source>Show the whole photograph</source>
        <translation>Mostrar la fotografía completa</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="921"/>
        <location filename="../patient_view.py" line="1151"/>
        <source>No photograph selected</source>
        <translation>Ninguna fotografía seleccionada</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="958"/>
        <source>Print report</source>
        <translation>Imprimir informe</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="959"/>
        <location filename="../patient_view.py" line="1327"/>
        <source>Save report as PDF</source>
        <translation>Guardar informe como PDF</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="960"/>
        <source>New patient</source>
        <translation>Nuevo paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1043"/>
        <source>Add {0} photographs</source>
        <translation>Añadir fotografías: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1044"/>
        <source>Add photographs</source>
        <translation>Añadir fotografías</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1150"/>
        <source>Select or drop a photograph</source>
        <translation>Seleccione o suelte una fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1162"/>
        <source>Checking quality…</source>
        <translation>Comprobando la calidad…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1163"/>
        <source>Loading the photograph…</source>
        <translation>Cargando la fotografía…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1164"/>
        <source>This file cannot be shown</source>
        <translation>Este archivo no se puede mostrar</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1203"/>
        <source>Heatmap: no area stood out to the model in this photograph.</source>
        <translation>Mapa de calor: ninguna zona destacó para el modelo en esta fotografía.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1211"/>
        <source>Patient details were filled in from the DICOM file. Check them before printing.</source>
        <translation>Los datos del paciente se rellenaron desde el archivo DICOM. Compruébelos antes de imprimir.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1215"/>
        <source>A DICOM photograph carries a different patient ID from the one entered. Check that it is this patient.</source>
        <translation>Una fotografía DICOM tiene un ID de paciente distinto del introducido. Compruebe que es este paciente.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1233"/>
        <source>Quit without the report?</source>
        <translation>¿Salir sin el informe?</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1234"/>
        <source>The screening result has not been printed or saved. Quit Retina Screen anyway? The result will be lost.</source>
        <translation>El resultado del cribado no se ha impreso ni guardado. ¿Salir de Retina Screen de todos modos? El resultado se perderá.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1237"/>
        <source>Discard this screening?</source>
        <translation>¿Descartar este cribado?</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1238"/>
        <source>The screening result has not been printed or saved. Start a new patient anyway?</source>
        <translation>El resultado del cribado no se ha impreso ni guardado. ¿Empezar un paciente nuevo de todos modos?</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1244"/>
        <source>Quit anyway</source>
        <translation>Salir de todos modos</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1244"/>
        <source>Discard and start a new patient</source>
        <translation>Descartar y empezar un paciente nuevo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1269"/>
        <source>Wait until every photograph has been screened.</source>
        <translation>Espere a que se hayan analizado todas las fotografías.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1273"/>
        <source>Enter the patient ID before printing, saving or sending the report.</source>
        <translation>Introduzca el ID del paciente antes de imprimir, guardar o enviar el informe.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1293"/>
        <source>Some characters of the patient&apos;s name or ID cannot be printed with the report&apos;s fonts (right-to-left scripts such as Arabic or Hebrew, among others): they will show as &apos;?&apos;. Check that the report identifies the patient, or enter the name in Latin letters.</source>
        <translation>Algunos caracteres del nombre o del ID del paciente no se pueden imprimir con las fuentes del informe (escrituras de derecha a izquierda como el árabe o el hebreo, entre otras): aparecerán como &apos;?&apos;. Compruebe que el informe identifica al paciente, o escriba el nombre en letras latinas.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1300"/>
        <source>The report font for Chinese, Japanese and Korean characters is missing from this installation: some PDF viewers and printers will show the name as empty boxes. Check the printed name.</source>
        <translation>Falta en esta instalación la fuente del informe para caracteres chinos, japoneses y coreanos: algunos visores de PDF e impresoras mostrarán el nombre como cuadros vacíos. Compruebe el nombre impreso.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1328"/>
        <source>PDF files (*.pdf)</source>
        <translation>Archivos PDF (*.pdf)</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1348"/>
        <source>Report saved to {0}</source>
        <translation>Informe guardado en {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="1374"/>
        <source>The result changed while the report was being prepared, so it was not shown. Press Print report again for the current result.</source>
        <translation>El resultado cambió mientras se preparaba el informe, así que no se ha mostrado. Pulse Imprimir informe de nuevo para el resultado actual.</translation>
    </message>
</context>
<context>
    <name>PatientSession</name>
    <message>
        <location filename="../session.py" line="138"/>
        <source>{0} was placed under {1} because of its file name. Change its eye if this is wrong.</source>
        <extracomment>Not screened because the grading model is unavailable (the file itself may be fine).</extracomment>
        <translation>{0} se colocó en {1} por su nombre de archivo. Cambie su ojo si no es correcto.</translation>
    </message>
    <message>
        <location filename="../session.py" line="142"/>
        <source>{0} photographs were placed under the eye their file names give, not the box they were dropped on. Change an eye if it is wrong.</source>
        <translation>{0} fotografías se colocaron en el ojo que indican sus nombres de archivo, no en la casilla donde se soltaron. Cambie un ojo si no es correcto.</translation>
    </message>
</context>
<context>
    <name>PatientTableModel</name>
    <message>
        <location filename="../batch_view.py" line="64"/>
        <source>Patient ID</source>
        <translation>ID del paciente</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="65"/>
        <source>Visit</source>
        <translation>Visita</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="66"/>
        <source>Eyes</source>
        <translation>Ojos</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="67"/>
        <source>Outcome</source>
        <translation>Resultado</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="68"/>
        <source>Interval</source>
        <translation>Plazo</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="69"/>
        <source>Report</source>
        <translation>Informe</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="129"/>
        <source>Open report</source>
        <extracomment>The patient table&apos;s row height and the rows it always shows (the page scrolls for them).</extracomment>
        <translation>Abrir informe</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="134"/>
        <source>Double-click to preview and print the report</source>
        <translation>Doble clic para ver e imprimir el informe</translation>
    </message>
    <message>
        <location filename="../batch_view.py" line="135"/>
        <source>No report was written for this patient</source>
        <translation>No se escribió informe para este paciente</translation>
    </message>
</context>
<context>
    <name>PhotoCard</name>
    <message>
        <location filename="../patient_view.py" line="384"/>
        <source>Right eye</source>
        <translation>Ojo derecho</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="384"/>
        <source>Left eye</source>
        <translation>Ojo izquierdo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="384"/>
        <source>Eye not known</source>
        <translation>Ojo desconocido</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="385"/>
        <source>Eye of this photograph</source>
        <translation>Ojo de esta fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="386"/>
        <source>Which eye this photograph shows</source>
        <translation>Qué ojo muestra esta fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="391"/>
        <location filename="../patient_view.py" line="392"/>
        <source>Remove this photograph</source>
        <translation>Quitar esta fotografía</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="428"/>
        <source>Not screened, and this file cannot be read: {0}</source>
        <translation>Sin cribar, y este archivo no se puede leer: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="431"/>
        <source>Not screened: screening is unavailable because the grading model could not be loaded.</source>
        <translation>Sin cribar: el cribado no está disponible porque no se pudo cargar el modelo de graduación.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="434"/>
        <source>Not screened: {0}</source>
        <translation>Sin cribar: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="436"/>
        <source>Checking quality…</source>
        <translation>Comprobando la calidad…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="459"/>
        <source>Photograph {0}: {1}</source>
        <translation>Fotografía {0}: {1}</translation>
    </message>
</context>
<context>
    <name>ReportPreviewDialog</name>
    <message>
        <location filename="../report_preview.py" line="148"/>
        <location filename="../report_preview.py" line="149"/>
        <source>Report preview</source>
        <translation>Vista previa del informe</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="158"/>
        <source>Preparing the preview…</source>
        <translation>Preparando la vista previa…</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="165"/>
        <source>Report pages</source>
        <translation>Páginas del informe</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="167"/>
        <source>&amp;Print…</source>
        <translation>&amp;Imprimir…</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="169"/>
        <source>Print the report</source>
        <translation>Imprimir el informe</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="171"/>
        <source>&amp;Save PDF…</source>
        <translation>&amp;Guardar PDF…</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="172"/>
        <source>Save the report as a PDF file</source>
        <translation>Guardar el informe como archivo PDF</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="206"/>
        <source>Please wait: the report is still being prepared.</source>
        <translation>Espere: el informe aún se está preparando.</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="218"/>
        <source>No preview: {0}
The report itself is ready to print or save.</source>
        <translation>Sin vista previa: {0}
El informe está listo para imprimir o guardar.</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="231"/>
        <source>Report page {0} of {1}</source>
        <translation>Página {0} de {1} del informe</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="247"/>
        <source>No printer is set up on this computer. Save the report as a PDF and print it from another computer, or ask your IT support to add a printer.</source>
        <translation>No hay ninguna impresora configurada en este equipo. Guarde el informe como PDF e imprímalo desde otro equipo, o pida a su soporte informático que añada una impresora.</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="255"/>
        <source>Print screening report</source>
        <translation>Imprimir informe de cribado</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="264"/>
        <source>This printer does not take {0} paper: the report is scaled to fit the printer&apos;s paper.</source>
        <translation>Esta impresora no admite papel {0}: el informe se ajusta al papel de la impresora.</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="286"/>
        <source>The report was sent to the printer.</source>
        <translation>El informe se envió a la impresora.</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="297"/>
        <source>Save report as PDF</source>
        <translation>Guardar informe como PDF</translation>
    </message>
    <message>
        <location filename="../report_preview.py" line="314"/>
        <source>Report saved to {0}</source>
        <translation>Informe guardado en {0}</translation>
    </message>
</context>
<context>
    <name>ResultPanel</name>
    <message>
        <location filename="../patient_view.py" line="74"/>
        <source>Right (OD)</source>
        <translation>Derecho (OD)</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="75"/>
        <source>Left (OS)</source>
        <translation>Izquierdo (OI)</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="76"/>
        <source>Eye not known</source>
        <translation>Ojo desconocido</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="646"/>
        <source>Print report…</source>
        <translation>Imprimir informe…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="648"/>
        <source>Save PDF…</source>
        <translation>Guardar PDF…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="649"/>
        <source>New patient</source>
        <translation>Nuevo paciente</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="663"/>
        <source>Screening result</source>
        <translation>Resultado del cribado</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="713"/>
        <source>Screening…</source>
        <translation>Analizando…</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="714"/>
        <source>1 photograph being checked</source>
        <translation>1 fotografía en análisis</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="715"/>
        <source>{0} photographs being checked</source>
        <translation>{0} fotografías en análisis</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="724"/>
        <source>Screening unavailable</source>
        <translation>Cribado no disponible</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="725"/>
        <source>The grading model could not be loaded</source>
        <translation>No se pudo cargar el modelo de graduación</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="726"/>
        <source>1 photograph added, not screened</source>
        <translation>1 fotografía añadida, sin cribar</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="727"/>
        <source>{0} photographs added, not screened</source>
        <translation>{0} fotografías añadidas, sin cribar</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="728"/>
        <source>The photographs are fine but cannot be screened on this computer now. Ask your support contact to repair or reinstall Retina Screen, then screen this patient again.</source>
        <translation>Las fotografías están bien, pero ahora no se pueden cribar en este ordenador. Pida a su servicio de soporte que repare o reinstale Retina Screen y vuelva a cribar a este paciente.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="731"/>
        <location filename="../patient_view.py" line="737"/>
        <source>Outcome: {0}</source>
        <translation>Resultado: {0}</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="750"/>
        <source>No photographs yet</source>
        <translation>Aún no hay fotografías</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="751"/>
        <source>Add the right and left eye photographs</source>
        <translation>Añada las fotografías del ojo derecho e izquierdo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="753"/>
        <source>Drop the photographs onto the eye boxes, or use Add… (Ctrl+O). Each photograph is checked as soon as it is added.</source>
        <translation>Suelte las fotografías en los recuadros de cada ojo, o use Añadir… (Ctrl+O). Cada fotografía se analiza en cuanto se añade.</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="769"/>
        <source>Eye</source>
        <translation>Ojo</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="769"/>
        <source>Grade</source>
        <translation>Grado</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="770"/>
        <source>P(referable)</source>
        <translation>P(derivable)</translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="790"/>
        <source>model {0} {1}, </source>
        <translation>modelo {0} {1}, </translation>
    </message>
    <message>
        <location filename="../patient_view.py" line="792"/>
        <source>Screened {0} · {1}quality thresholds {2} · research use, not a diagnosis</source>
        <translation>Analizado {0} · {1}umbrales de calidad {2} · uso en investigación, no es un diagnóstico</translation>
    </message>
</context>
<context>
    <name>Results</name>
    <message>
        <location filename="../text.py" line="35"/>
        <source>REFER URGENTLY</source>
        <extracomment>The outcome in large words.</extracomment>
        <translation>DERIVAR URGENTE</translation>
    </message>
    <message>
        <location filename="../text.py" line="36"/>
        <source>REFER</source>
        <translation>DERIVAR</translation>
    </message>
    <message>
        <location filename="../text.py" line="37"/>
        <source>NO REFERABLE DR</source>
        <translation>SIN RD DERIVABLE</translation>
    </message>
    <message>
        <location filename="../text.py" line="38"/>
        <source>RETAKE PHOTOGRAPHS</source>
        <translation>REPETIR FOTOGRAFÍAS</translation>
    </message>
    <message>
        <location filename="../text.py" line="41"/>
        <source>PHOTOGRAPH BOTH EYES</source>
        <translation>FOTOGRAFIAR AMBOS OJOS</translation>
    </message>
    <message>
        <location filename="../text.py" line="42"/>
        <source>CHECK THE PHOTOGRAPHS</source>
        <translation>COMPRUEBE LAS FOTOGRAFÍAS</translation>
    </message>
    <message>
        <location filename="../text.py" line="62"/>
        <source>Refer urgently</source>
        <extracomment>Short outcome words for tables (translated when shown: :func:`outcome_short`).</extracomment>
        <translation>Derivar urgente</translation>
    </message>
    <message>
        <location filename="../text.py" line="63"/>
        <source>Refer</source>
        <translation>Derivar</translation>
    </message>
    <message>
        <location filename="../text.py" line="64"/>
        <source>No referable DR</source>
        <translation>Sin RD derivable</translation>
    </message>
    <message>
        <location filename="../text.py" line="65"/>
        <source>Retake / human grader</source>
        <translation>Repetir / evaluador humano</translation>
    </message>
    <message>
        <location filename="../text.py" line="82"/>
        <source>not gradable</source>
        <translation>no evaluable</translation>
    </message>
    <message>
        <location filename="../text.py" line="83"/>
        <source>Grade {grade}: {label}</source>
        <translation>Grado {grade}: {label}</translation>
    </message>
    <message>
        <location filename="../text.py" line="102"/>
        <source>No gradable photograph</source>
        <translation>Ninguna fotografía evaluable</translation>
    </message>
    <message>
        <location filename="../text.py" line="116"/>
        <source>quality check failed</source>
        <extracomment>Words with which a quality reason (the engine&apos;s English text) already says what to do.</extracomment>
        <translation>no superó el control de calidad</translation>
    </message>
    <message>
        <location filename="../text.py" line="118"/>
        <source>. Retake this photograph</source>
        <translation>. Repita esta fotografía</translation>
    </message>
    <message>
        <location filename="../text.py" line="126"/>
        <source>unreadable file</source>
        <translation>archivo ilegible</translation>
    </message>
    <message>
        <location filename="../text.py" line="127"/>
        <source>Cannot use this file: {reason}. Check the file, or export it from the camera again.</source>
        <translation>No se puede usar este archivo: {reason}. Compruebe el archivo o vuelva a exportarlo desde la cámara.</translation>
    </message>
    <message>
        <location filename="../text.py" line="131"/>
        <source>Ungradable.</source>
        <translation>No evaluable.</translation>
    </message>
    <message>
        <location filename="../text.py" line="134"/>
        <source>Quality passed, not graded.</source>
        <translation>Calidad superada, sin grado.</translation>
    </message>
    <message>
        <location filename="../text.py" line="135"/>
        <source>Quality: pass</source>
        <translation>Calidad: correcta</translation>
    </message>
    <message>
        <location filename="../text.py" line="136"/>
        <source>P(referable) {p}</source>
        <translation>P(derivable) {p}</translation>
    </message>
    <message>
        <location filename="../text.py" line="138"/>
        <source> · referable</source>
        <translation> · derivable</translation>
    </message>
    <message>
        <location filename="../text.py" line="141"/>
        <source>Taken {date}</source>
        <translation>Tomada el {date}</translation>
    </message>
    <message>
        <location filename="../text.py" line="145"/>
        <source>, {days} days ago: is it today&apos;s photograph?</source>
        <translation>, hace {days} días: ¿es la fotografía de hoy?</translation>
    </message>
    <message>
        <location filename="../text.py" line="149"/>
        <source>Copy of the other eye</source>
        <translation>Copia del otro ojo</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../settings_view.py" line="44"/>
        <source>System default</source>
        <extracomment>How a choice is shown, where the stored value is a code: languages in their own language.</extracomment>
        <translation>Predeterminado del sistema</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="50"/>
        <location filename="../settings_view.py" line="450"/>
        <source>Clinic name</source>
        <extracomment>Choice names that are shown as they are (a language&apos;s name in that language). The settings&apos; titles and help (declared in retina_screen/settings.py), for translation.</extracomment>
        <translation>Nombre de la clínica</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="51"/>
        <source>The clinic&apos;s name, printed at the top of every report.</source>
        <translation>El nombre de la clínica, impreso al principio de cada informe.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="52"/>
        <source>Address</source>
        <translation>Dirección</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="53"/>
        <source>The clinic&apos;s address, printed under its name (one line per line).</source>
        <translation>La dirección de la clínica, impresa bajo su nombre (una línea por línea).</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="55"/>
        <source>Logo</source>
        <translation>Logotipo</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="56"/>
        <source>Image printed at the top left of every report.</source>
        <translation>Imagen impresa arriba a la izquierda de cada informe.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="57"/>
        <location filename="../settings_view.py" line="453"/>
        <source>Operator</source>
        <translation>Operador</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="58"/>
        <source>Name of the person screening, recorded in reports and the audit trail.</source>
        <translation>Nombre de la persona que realiza el cribado, registrado en los informes y en la auditoría.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="60"/>
        <source>Paper size</source>
        <translation>Tamaño del papel</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="61"/>
        <source>Paper of the PDF reports and the printer.</source>
        <translation>Papel de los informes PDF y de la impresora.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="62"/>
        <source>Language</source>
        <translation>Idioma</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="63"/>
        <source>Language of the app and the reports (system: the computer&apos;s language; en: English; es: Spanish).</source>
        <translation>Idioma de la aplicación y de los informes (system: el idioma del equipo; en: inglés; es: español).</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="65"/>
        <source>Default output folder</source>
        <translation>Carpeta de salida predeterminada</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="66"/>
        <source>Where reports are saved and batch results are written by default.</source>
        <translation>Dónde se guardan por defecto los informes y se escriben los resultados de los lotes.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="142"/>
        <source>Browse…</source>
        <translation>Examinar…</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="143"/>
        <source>Browse for {0}</source>
        <translation>Buscar {0}</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="177"/>
        <source>Settings</source>
        <translation>Configuración</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="180"/>
        <source>Clinic &amp;&amp; operator</source>
        <translation>Clínica &amp;&amp; operador</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="181"/>
        <source>Reports &amp;&amp; output</source>
        <translation>Informes &amp;&amp; salida</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="182"/>
        <source>Model</source>
        <translation>Modelo</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="253"/>
        <source>Name printed on reports as the person screening</source>
        <translation>Nombre impreso en los informes como la persona que realiza el cribado</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="261"/>
        <source>No logo</source>
        <translation>Sin logotipo</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="262"/>
        <source>This file is not an image</source>
        <translation>Este archivo no es una imagen</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="272"/>
        <source>The app&apos;s language changes when Retina Screen is started again; new reports use it at once.</source>
        <translation>El idioma de la aplicación cambia cuando se vuelve a iniciar Retina Screen; los informes nuevos lo usan de inmediato.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="284"/>
        <source>Reports are saved here by default, and batch runs write their results (results.csv, patients.csv, reports) into a folder you choose, starting here.</source>
        <translation>Los informes se guardan aquí por defecto, y los lotes escriben sus resultados (results.csv, patients.csv, informes) en una carpeta que usted elige, empezando aquí.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="291"/>
        <source>These settings are kept in {0}, which the retina-screen command line reads too.</source>
        <translation>Esta configuración se guarda en {0}, que también lee la línea de órdenes de retina-screen.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="308"/>
        <source>The model cannot be read: {0}</source>
        <translation>No se puede leer el modelo: {0}</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="319"/>
        <source>Model details</source>
        <translation>Detalles del modelo</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="326"/>
        <location filename="../settings_view.py" line="335"/>
        <source>Model card summary</source>
        <translation>Resumen de la ficha del modelo</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="331"/>
        <source>Model in use (read-only)</source>
        <translation>Modelo en uso (solo lectura)</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="365"/>
        <source>Enter the clinic name: it is printed on every report.</source>
        <translation>Introduzca el nombre de la clínica: se imprime en cada informe.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="370"/>
        <source>The logo file is not a readable image.</source>
        <translation>El archivo del logotipo no es una imagen legible.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="376"/>
        <source>The settings could not be saved: {0}</source>
        <translation>No se pudo guardar la configuración: {0}</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="398"/>
        <source>Your name (the operator) is not set: the report will say &apos;Operator: not recorded&apos;.</source>
        <translation>Su nombre (el operador) no está configurado: el informe dirá «Operador: no registrado».</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="401"/>
        <source>The clinic name is not set: the report will be headed with a placeholder name, not your clinic&apos;s.</source>
        <translation>El nombre de la clínica no está configurado: el informe llevará en el encabezado un nombre de ejemplo, no el de su clínica.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="404"/>
        <source>The clinic name and your name (the operator) are not set: the report will be headed with a placeholder clinic name and say &apos;Operator: not recorded&apos;.</source>
        <translation>El nombre de la clínica y su nombre (el operador) no están configurados: el informe llevará en el encabezado un nombre de clínica de ejemplo y dirá «Operador: no registrado».</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="409"/>
        <source>Clinic or operator not set</source>
        <translation>Clínica u operador sin configurar</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="410"/>
        <source>The report goes into the patient&apos;s record. Enter them now?</source>
        <translation>El informe se incorpora a la historia del paciente. ¿Introducirlos ahora?</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="414"/>
        <source>Enter them now…</source>
        <translation>Introducirlos ahora…</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="416"/>
        <source>Continue without them</source>
        <translation>Continuar sin ellos</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="432"/>
        <location filename="../settings_view.py" line="435"/>
        <source>Welcome to Retina Screen</source>
        <translation>Bienvenido a Retina Screen</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="440"/>
        <source>Before the first screening, enter the clinic name and your name. Both are printed on every report and can be changed later in Settings.</source>
        <translation>Antes del primer cribado, introduzca el nombre de la clínica y su nombre. Ambos se imprimen en cada informe y se pueden cambiar después en Configuración.</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="448"/>
        <source>e.g. Riverside Diabetes Clinic</source>
        <translation>p. ej. Clínica de Diabetes del Río</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="452"/>
        <source>e.g. A. Nurse</source>
        <translation>p. ej. A. Enfermera</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="458"/>
        <source>Your &amp;name (operator)</source>
        <translation>Su &amp;nombre (operador)</translation>
    </message>
    <message>
        <location filename="../settings_view.py" line="465"/>
        <source>Start</source>
        <translation>Empezar</translation>
    </message>
</context>
<context>
    <name>WorklistDialog</name>
    <message>
        <location filename="../clinic_view.py" line="52"/>
        <source>Patient from the worklist</source>
        <translation>Paciente de la lista de trabajo</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="61"/>
        <source>Scheduled date</source>
        <translation>Fecha de la cita</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="63"/>
        <source>Search ID, name, accession number…</source>
        <translation>Buscar ID, nombre, número de acceso…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="64"/>
        <source>Search the worklist</source>
        <translation>Buscar en la lista de trabajo</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="66"/>
        <source>&amp;Refresh</source>
        <translation>&amp;Actualizar</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="72"/>
        <source>Scheduled patients</source>
        <translation>Pacientes citados</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="82"/>
        <source>&amp;Use this patient</source>
        <translation>&amp;Usar este paciente</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="86"/>
        <source>Date</source>
        <translation>Fecha</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="109"/>
        <source>Asking the worklist server…</source>
        <translation>Consultando el servidor de la lista de trabajo…</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="124"/>
        <source>{0} patients scheduled.</source>
        <translation>{0} pacientes citados.</translation>
    </message>
    <message>
        <location filename="../clinic_view.py" line="125"/>
        <source>No patients scheduled on this day.</source>
        <translation>No hay pacientes citados este día.</translation>
    </message>
</context>
<context>
    <name>app</name>
    <message>
        <location filename="../app.py" line="105"/>
        <source>Unexpected problem</source>
        <extracomment>Benchmarks: write the time (time.time()) at which the window became visible to this file.</extracomment>
        <translation>Problema inesperado</translation>
    </message>
    <message>
        <location filename="../app.py" line="106"/>
        <source>A crash report was written to:</source>
        <translation>Se escribió un informe del fallo en:</translation>
    </message>
    <message>
        <location filename="../app.py" line="108"/>
        <source>Something unexpected went wrong. The application keeps running; if this happens again, restart it and tell your support contact.</source>
        <translation>Algo inesperado salió mal. La aplicación sigue funcionando; si vuelve a ocurrir, reiníciela y avise a su contacto de soporte.</translation>
    </message>
</context>
<context>
    <name>messages</name>
    <message>
        <location filename="../messages.py" line="43"/>
        <source>save the report</source>
        <extracomment>What the operator was doing, as passed to :func:`plain_message` (marked for translation).</extracomment>
        <translation>guardar el informe</translation>
    </message>
    <message>
        <location filename="../messages.py" line="44"/>
        <source>print the report</source>
        <translation>imprimir el informe</translation>
    </message>
    <message>
        <location filename="../messages.py" line="45"/>
        <source>prepare the report</source>
        <translation>preparar el informe</translation>
    </message>
    <message>
        <location filename="../messages.py" line="46"/>
        <source>show the preview</source>
        <translation>mostrar la vista previa</translation>
    </message>
    <message>
        <location filename="../messages.py" line="47"/>
        <source>screen the folder</source>
        <translation>analizar la carpeta</translation>
    </message>
    <message>
        <location filename="../messages.py" line="48"/>
        <source>apply the settings</source>
        <translation>aplicar la configuración</translation>
    </message>
    <message>
        <location filename="../messages.py" line="49"/>
        <source>screen this photograph</source>
        <translation>analizar esta fotografía</translation>
    </message>
    <message>
        <location filename="../messages.py" line="50"/>
        <source>record the report in the audit trail</source>
        <translation>registrar el informe en la auditoría</translation>
    </message>
    <message>
        <location filename="../messages.py" line="62"/>
        <source>Could not {0}: </source>
        <translation>No se pudo {0}: </translation>
    </message>
    <message>
        <location filename="../messages.py" line="65"/>
        <source>the grading model could not be loaded, so screening is switched off. Ask your support contact to repair or reinstall Retina Screen (details for them: {0}).</source>
        <translation>no se pudo cargar el modelo de graduación, así que el cribado está desactivado. Pida a su servicio de soporte que repare o reinstale Retina Screen (detalles para ellos: {0}).</translation>
    </message>
    <message>
        <location filename="../messages.py" line="78"/>
        <source>the disk is full. Free some space or choose another folder.</source>
        <translation>el disco está lleno. Libere espacio o elija otra carpeta.</translation>
    </message>
    <message>
        <location filename="../messages.py" line="81"/>
        <source>permission denied. Choose a folder you are allowed to write to, or ask your IT support.</source>
        <translation>permiso denegado. Elija una carpeta en la que pueda escribir, o consulte a su soporte informático.</translation>
    </message>
    <message>
        <location filename="../messages.py" line="85"/>
        <source>the file or folder no longer exists.</source>
        <translation>el archivo o la carpeta ya no existe.</translation>
    </message>
    <message>
        <location filename="../messages.py" line="87"/>
        <source>the disk is read-only. Choose another folder.</source>
        <translation>el disco es de solo lectura. Elija otra carpeta.</translation>
    </message>
    <message>
        <location filename="../messages.py" line="89"/>
        <source>input/output error</source>
        <translation>error de entrada/salida</translation>
    </message>
    <message>
        <location filename="../messages.py" line="92"/>
        <source>the computer ran out of memory. Close other programs and try again.</source>
        <translation>el equipo se quedó sin memoria. Cierre otros programas y vuelva a intentarlo.</translation>
    </message>
    <message>
        <location filename="../messages.py" line="94"/>
        <source>an unexpected problem occurred ({0}). The details were written to the log; please report it to your support contact.</source>
        <translation>se produjo un problema inesperado ({0}). Los detalles se escribieron en el registro; comuníquelo a su contacto de soporte.</translation>
    </message>
</context>
</TS>
